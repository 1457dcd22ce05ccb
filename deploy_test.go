package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"precheckwatch/config"
	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
)

// The deployment files, and the fc3 component's props schema (a copy, with
// its licence and source, in testdata/fc3).
const (
	sYAMLFile          = "s.yaml"
	ramPolicyFile      = "ram-policy.json"
	fc3PropsSchemaFile = "testdata/fc3/props.schema.json"
)

// deployBuild is the command line s.yaml's pre-deploy step builds the
// handler exe with: a static linux/amd64 binary without the local cloud.
func deployBuild(exe string) string {
	return fmt.Sprintf("GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -tags nolocalcloud -o %s .", exe)
}

// The binary s.yaml deploys links none of the local cloud's emulators, and
// its commands that would run them say how to run them from the source.
func TestDeployedBinaryCarriesNoEmulators(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "main")
	words := strings.Fields(deployBuild(exe))
	var env []string
	for strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	build := exec.Command(words[0], words[1:]...)
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(words, " "), err, out)
	}
	symbols, err := exec.Command("go", "tool", "nm", exe).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var emulators []string
	for _, line := range strings.Split(string(symbols), "\n") {
		if strings.Contains(line, "precheckwatch/localcloud") {
			emulators = append(emulators, strings.TrimSpace(line))
		}
	}
	if len(emulators) > 0 {
		t.Errorf("the deployed binary links %d local cloud symbols, e.g. %s", len(emulators), emulators[0])
	}
	if !strings.Contains(string(symbols), "precheckwatch/handler.") {
		t.Fatalf("go tool nm lists no handler symbol, so it proves nothing about the emulators:\n%.2000s", symbols)
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return // the binary is built for FC and cannot run here
	}
	var stderr bytes.Buffer
	demo := exec.Command(exe, "demo")
	demo.Env = []string{}
	demo.Stderr = &stderr
	err = demo.Run()
	if code := demo.ProcessState.ExitCode(); code != 2 || !strings.Contains(stderr.String(), "go run . demo") {
		t.Errorf("the deployed binary's demo: exit %d (%v), stderr %q; want 2 and how to run it from the source", code, err, stderr.String())
	}
}

// TestSYAMLPropsMatchFC3Schema validates every resource's props against the
// schema the fc3 component checks them with, so a typo or a quoted number
// fails here rather than halfway through `s deploy`.
func TestSYAMLPropsMatchFC3Schema(t *testing.T) {
	schemaPath, err := filepath.Abs(fc3PropsSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := jsonschema.NewCompiler().Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile %s: %v", fc3PropsSchemaFile, err)
	}

	doc := loadSYAML(t)
	resources := yamlMap(t, doc, "resources")
	if len(resources) == 0 {
		t.Fatal("s.yaml declares no resources")
	}
	for _, name := range slices.Sorted(maps.Keys(resources)) {
		res := yamlMap(t, resources, name)
		if c := res["component"]; c != "fc3" {
			t.Errorf("resources.%s.component is %v, want fc3", name, c)
		}
		if err := schema.Validate(jsonValue(t, res["props"])); err != nil {
			t.Errorf("resources.%s.props does not match the fc3 schema "+
				"(numbers and booleans must be literals, not ${...}):\n%v", name, err)
		}
	}
}

// TestSYAMLFunction checks what the function itself needs of its deployment.
func TestSYAMLFunction(t *testing.T) {
	doc := loadSYAML(t)
	res := yamlMap(t, yamlMap(t, doc, "resources"), "precheckwatch")
	props := yamlMap(t, res, "props")
	env := deployedEnv(t, yamlMap(t, props, "environmentVariables"))
	cfg, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatalf("config.Load rejects s.yaml's environmentVariables (secrets unset):\n%v", err)
	}

	t.Run("package", func(t *testing.T) {
		if props["runtime"] != "go1" {
			t.Errorf("runtime is %v, want go1 (fc-runtime-go-sdk serves only go1)", props["runtime"])
		}
		if props["handler"] != "main" {
			t.Errorf("handler is %v, want main", props["handler"])
		}
		// go1 runs the handler as a path inside the code package, so the
		// pre-deploy build must write exactly that file.
		code := yamlString(t, props, "code")
		exe := path.Join(code, yamlString(t, props, "handler"))
		want := deployBuild(path.Clean(exe))
		var runs []string
		for _, step := range yamlList(t, yamlMap(t, res, "actions"), "pre-deploy") {
			if m, ok := step.(map[string]any); ok {
				runs = append(runs, fmt.Sprint(m["run"]))
			}
		}
		if !slices.Contains(runs, want) {
			t.Errorf("actions.pre-deploy runs %q; want a step %q, building the handler %s", runs, want, exe)
		}
	})

	t.Run("environment", func(t *testing.T) {
		defaults, err := config.Load(func(string) string { return "" })
		if err != nil {
			t.Fatalf("config.Load of an empty environment: %v", err)
		}
		known := map[string]bool{}
		for _, kv := range defaults.Redacted() {
			known[kv[0]] = true
		}
		vars := yamlMap(t, props, "environmentVariables")
		for _, name := range slices.Sorted(maps.Keys(vars)) {
			switch {
			case !known[name]:
				t.Errorf("environmentVariables.%s is not a variable config.Load reads", name)
			case unsetInDeployment[name] != "":
				t.Errorf("environmentVariables.%s must not be set: %s", name, unsetInDeployment[name])
			}
		}
		for _, name := range slices.Sorted(maps.Keys(known)) {
			if _, ok := vars[name]; !ok && unsetInDeployment[name] == "" {
				t.Errorf("config.Load reads %s but s.yaml does not set it", name)
			}
		}
		for _, name := range secretInDeployment {
			if v, ok := vars[name].(string); ok && !envExpr.MatchString(v) {
				t.Errorf("environmentVariables.%s holds a secret and must come from ${env('%s', '')}, not the file", name, name)
			}
		}
		// Deployed from a shell without secrets, the function runs exactly
		// the documented defaults.
		if got, want := cfg.Redacted(), defaults.Redacted(); !slices.Equal(got, want) {
			t.Errorf("s.yaml's environment differs from the documented defaults:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("timer", func(t *testing.T) {
		timer := triggerNamed(t, props, "sweep", "timer")
		tc := yamlMap(t, timer, "triggerConfig")
		if tc["enable"] != true {
			t.Errorf("the timer trigger is not enabled")
		}
		cron := yamlString(t, tc, "cronExpression")
		if every, ok := strings.CutPrefix(cron, "@every "); ok {
			if d, err := time.ParseDuration(every); err != nil || d < time.Minute {
				t.Errorf("cronExpression %q: @every takes a duration of at least 1m", cron)
			}
		} else if len(strings.Fields(cron)) != 6 {
			t.Errorf("cronExpression %q is neither @every <duration> nor a 6-field cron", cron)
		}

		payload, _ := tc["payload"].(string)
		event, err := json.Marshal(map[string]string{
			"triggerTime": "2026-11-27T02:00:00Z",
			"triggerName": yamlString(t, timer, "triggerName"),
			"payload":     payload,
		})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := handler.DecodeEvent(event)
		if err != nil {
			t.Fatalf("the function rejects the timer trigger's event: %v", err)
		}
		if ev.Trigger != handler.TimerTrigger {
			t.Fatalf("the timer trigger's event decodes as a %s event", ev.Trigger)
		}
		// A full sweep queries every task once at the rate limit, then still
		// has to hand on and deliver: the timeout must leave as long again.
		timeout := yamlNumber(t, props, "timeout")
		querying := float64(ev.Sweep.MaxTasks) / cfg.SASRateLimit
		if timeout < 2*querying {
			t.Errorf("timeout %.0fs is too short for a sweep of %d tasks at SAS_RATE_LIMIT %g/s (%.0fs of queries, want twice that)",
				timeout, ev.Sweep.MaxTasks, cfg.SASRateLimit, querying)
		}
	})

	t.Run("eventbridge", func(t *testing.T) {
		tc := yamlMap(t, onlyTriggerOfType(t, props, "eventbridge"), "triggerConfig")
		region := yamlString(t, props, "region")
		checks := []struct {
			path string
			want any
			why  string
		}{
			{"triggerEnable", true, "the stream must run"},
			{"asyncInvocationType", false, "errors must reach the stream's retry strategy"},
			{"eventSourceConfig.eventSourceType", "MNS", "the tasks are on an MNS queue"},
			{"eventSourceConfig.eventSourceParameters.sourceMNSParameters.QueueName", cfg.Queue, "the stream must read PRECHECK_QUEUE"},
			{"eventSourceConfig.eventSourceParameters.sourceMNSParameters.RegionId", region, "the queue is in the function's region"},
			{"eventSourceConfig.eventSourceParameters.sourceMNSParameters.IsBase64Decode", false, "producers send plain JSON bodies"},
			{"eventSinkConfig.deliveryOption.mode", "event-streaming", "FC 3.0 MNS triggers are event streams"},
			{"eventSinkConfig.deliveryOption.eventSchema", "CloudEvents", "the handler reads the CloudEvents envelope"},
			{"runOptions.mode", "event-streaming", "runOptions apply only in event-streaming mode"},
			{"runOptions.errorsTolerance", "ALL", "one failing batch must not block the stream"},
		}
		for _, c := range checks {
			if got := yamlAt(tc, c.path); got != c.want {
				t.Errorf("triggerConfig.%s is %#v, want %#v: %s", c.path, got, c.want, c.why)
			}
		}
		if n := yamlNumber(t, yamlMap(t, yamlMap(t, tc, "runOptions"), "batchWindow"), "CountBasedWindow"); n < 1 || n > 10000 {
			t.Errorf("batchWindow.CountBasedWindow %v is outside 1-10000", n)
		}
		if s := yamlNumber(t, yamlMap(t, yamlMap(t, tc, "runOptions"), "batchWindow"), "TimeBasedWindow"); s < 0 || s > 15 {
			t.Errorf("batchWindow.TimeBasedWindow %v is outside 0-15 s", s)
		}
		if r := yamlAt(tc, "runOptions.retryStrategy.PushRetryStrategy"); r != "BACKOFF_RETRY" && r != "EXPONENTIAL_DECAY_RETRY" {
			t.Errorf("runOptions.retryStrategy.PushRetryStrategy is %#v", r)
		}
		// EventBridge's failed batches are envelopes, not bodies: they get a
		// queue of their own, neither the pending queue nor the function's.
		arn, _ := yamlAt(tc, "runOptions.deadLetterQueue.Arn").(string)
		eventDLQ := fmt.Sprint(yamlMap(t, doc, "vars")["eventDeadLetterQueue"])
		if !strings.HasPrefix(arn, "acs:mns:"+region+":") || !strings.HasSuffix(arn, ":/queues/"+eventDLQ) {
			t.Errorf("runOptions.deadLetterQueue.Arn %q is not vars.eventDeadLetterQueue %q in %s", arn, eventDLQ, region)
		}
		if eventDLQ == cfg.DeadLetterQueue || eventDLQ == cfg.Queue {
			t.Errorf("vars.eventDeadLetterQueue %q is also PRECHECK_QUEUE or PRECHECK_DEAD_LETTER_QUEUE", eventDLQ)
		}
	})
}

// TestRAMPolicyGrantsExactlyWhatTheFunctionCalls keeps ram-policy.json in step
// with the code: the MNS operations are read from the queue package's calls
// into the MNS SDK, so a new call fails here until the policy grants it.
func TestRAMPolicyGrantsExactlyWhatTheFunctionCalls(t *testing.T) {
	raw, err := os.ReadFile(ramPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // RAM documents no other elements
	if err := dec.Decode(&policy); err != nil {
		t.Fatalf("%s is not a RAM policy of Version, Statement[Effect, Action, Resource]: %v", ramPolicyFile, err)
	}
	if policy.Version != "1" {
		t.Errorf("Version is %q, want \"1\"", policy.Version)
	}
	granted := map[string][]string{} // resource -> sorted actions
	for i, st := range policy.Statement {
		if st.Effect != "Allow" {
			t.Errorf("Statement[%d].Effect is %q, want Allow", i, st.Effect)
		}
		for _, res := range st.Resource {
			for _, a := range st.Action {
				if strings.Contains(a, "*") {
					t.Errorf("Statement[%d] grants the wildcard action %q", i, a)
				}
				granted[res] = append(granted[res], a)
			}
		}
	}
	for res := range granted {
		slices.Sort(granted[res])
	}

	cfg := deployedConfig(t)
	calls := mnsOperationsCalled(t)
	var sends []string
	for _, a := range calls {
		if strings.Contains(a, "Send") {
			sends = append(sends, a)
		}
	}
	want := map[string][]string{
		// No resource-level grants. The function queries tasks; a fleet
		// timer lists the fleet and starts its prechecks.
		"*":                      {"yundun-sas:DescribeUniBackupDatabase", "yundun-sas:QueryPreCheckDatabase", "yundun-sas:StartPreCheckDatabase"},
		queueMessages(cfg.Queue): calls,
		// The function only ever writes unreadable messages there.
		queueMessages(cfg.DeadLetterQueue): sends,
	}
	for res, actions := range granted {
		if want[res] == nil {
			t.Errorf("%s grants %v on %q, which the function does not use", ramPolicyFile, actions, res)
		}
	}
	for res, actions := range want {
		if !slices.Equal(granted[res], actions) {
			t.Errorf("%s grants %v on %q, want exactly %v", ramPolicyFile, granted[res], res, actions)
		}
	}
}

// fleetSwitch is the one line of s.yaml that turns the weekly fleet
// precheck on.
const fleetSwitch = "enable: false # fleet precheck: true turns it on"

// TestSYAMLFleetTimer checks the weekly fleet precheck: off by default, a
// weekly cron, a payload the function reads as a fleet run, and one line
// to turn it on that keeps s.yaml valid for fc3.
func TestSYAMLFleetTimer(t *testing.T) {
	raw, err := os.ReadFile(sYAMLFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, []byte(fleetSwitch)); n != 1 {
		t.Fatalf("%s holds %q %d times, want once, in the fleet trigger", sYAMLFile, fleetSwitch, n)
	}
	props := yamlMap(t, yamlMap(t, yamlMap(t, loadSYAML(t), "resources"), "precheckwatch"), "props")
	tc := yamlMap(t, triggerNamed(t, props, "fleet", "timer"), "triggerConfig")
	if tc["enable"] != false {
		t.Errorf("the fleet timer is on by default; it must wait for the operator's regions")
	}
	cron := strings.Fields(yamlString(t, tc, "cronExpression"))
	if len(cron) != 6 || cron[5] == "*" || cron[5] == "?" {
		t.Errorf("cronExpression %q is not a weekly 6-field cron (seconds minutes hours day month weekday)", tc["cronExpression"])
	}
	payload, _ := tc["payload"].(string)
	event, err := json.Marshal(map[string]string{"triggerTime": "2026-12-07T03:00:00Z", "triggerName": "fleet", "payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := handler.DecodeEvent(event)
	if err != nil || ev.Trigger != handler.FleetTrigger || len(ev.Fleet.Spec.Regions) == 0 {
		t.Fatalf("the fleet timer's event decodes as %+v, %v; want a fleet run", ev, err)
	}

	on := parseSYAML(t, bytes.Replace(raw, []byte(fleetSwitch), []byte("enable: true"), 1))
	props = yamlMap(t, yamlMap(t, yamlMap(t, on, "resources"), "precheckwatch"), "props")
	if yamlMap(t, triggerNamed(t, props, "fleet", "timer"), "triggerConfig")["enable"] != true {
		t.Fatal("flipping the fleet line did not turn the fleet timer on")
	}
	schema, err := jsonschema.NewCompiler().Compile(fc3PropsSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(jsonValue(t, props)); err != nil {
		t.Errorf("props with the fleet timer on do not match the fc3 schema:\n%v", err)
	}
}

// TestSYAMLOptionalVPC turns on the VPC the way s.yaml's comment says
// (uncomment vpcConfig under props) and checks the result still matches the
// fc3 schema, with vars.vpcConfig's ids in the shape the console gives them.
func TestSYAMLOptionalVPC(t *testing.T) {
	raw, err := os.ReadFile(sYAMLFile)
	if err != nil {
		t.Fatal(err)
	}
	const commented = "# vpcConfig: ${vars.vpcConfig}"
	if n := bytes.Count(raw, []byte(commented)); n != 1 {
		t.Fatalf("%s holds %q %d times, want once, under props", sYAMLFile, commented, n)
	}
	props := yamlMap(t, yamlMap(t, yamlMap(t, loadSYAML(t), "resources"), "precheckwatch"), "props")
	if _, on := props["vpcConfig"]; on {
		t.Fatalf("vpcConfig is on by default; it is for a Redis in a VPC only")
	}
	withVPC := parseSYAML(t, bytes.Replace(raw, []byte(commented), []byte(strings.TrimPrefix(commented, "# ")), 1))
	props = yamlMap(t, yamlMap(t, yamlMap(t, withVPC, "resources"), "precheckwatch"), "props")
	vpc := yamlMap(t, props, "vpcConfig")
	for key, prefix := range map[string]string{"vpcId": "vpc-", "securityGroupId": "sg-"} {
		if !strings.HasPrefix(yamlString(t, vpc, key), prefix) {
			t.Errorf("vars.vpcConfig.%s is %q, want an id starting %s", key, vpc[key], prefix)
		}
	}
	if sw := yamlList(t, vpc, "vSwitchIds"); len(sw) == 0 || !strings.HasPrefix(fmt.Sprint(sw[0]), "vsw-") {
		t.Errorf("vars.vpcConfig.vSwitchIds is %v, want vsw- ids", sw)
	}
	if props["internetAccess"] != true {
		t.Errorf("internetAccess must stay true with a VPC: Slack, DingTalk and Security Center are on the internet")
	}
	schema, err := jsonschema.NewCompiler().Compile(fc3PropsSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(jsonValue(t, props)); err != nil {
		t.Errorf("props with vpcConfig on do not match the fc3 schema:\n%v", err)
	}
}

// TestREADMEQueueVisibility checks the visibility timeout the README has the
// pending queue created with outlasts the function's timeout, so that no
// message a sweep holds reappears to another instance mid-invocation.
func TestREADMEQueueVisibility(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`([a-z0-9-]+)` with a VisibilityTimeout of (\\d+) s").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README's Queues step does not say \"`<queue>` with a VisibilityTimeout of N s\"")
	}
	cfg := deployedConfig(t)
	if string(m[1]) != cfg.Queue {
		t.Errorf("README sets the visibility of %s; the pending queue is %s", m[1], cfg.Queue)
	}
	props := yamlMap(t, yamlMap(t, yamlMap(t, loadSYAML(t), "resources"), "precheckwatch"), "props")
	visibility, _ := strconv.Atoi(string(m[2]))
	if timeout := yamlNumber(t, props, "timeout"); float64(visibility) <= timeout || visibility > 43200 {
		t.Errorf("README's VisibilityTimeout of %d s does not outlast the function's timeout of %.0f s (MNS allows up to 43200 s)", visibility, timeout)
	}
}

// unsetInDeployment are configuration variables s.yaml must not set, with the reason.
var unsetInDeployment = map[string]string{
	"MNS_ENDPOINT":                    "unset, the function uses the region's internal endpoint for the invoking account",
	"SAS_ENDPOINT":                    "unset, the function uses the Security Center site endpoint of the region",
	"FC_REGION":                       "FC reserves the FC_ prefix and passes the region with each invocation",
	"FC_ACCOUNT_ID":                   "FC reserves the FC_ prefix and passes the account with each invocation",
	"ALIBABA_CLOUD_ACCESS_KEY_ID":     "the function's role supplies credentials with each invocation",
	"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "the function's role supplies credentials with each invocation",
	"ALIBABA_CLOUD_SECURITY_TOKEN":    "the function's role supplies credentials with each invocation",
}

// secretInDeployment hold tokens, signed URLs or passwords.
var secretInDeployment = []string{"SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "DINGTALK_WEBHOOK_URL", "DINGTALK_SECRET", "FEISHU_WEBHOOK_URL", "FEISHU_SECRET", "FEISHU_APP_SECRET", "DEDUPE_URL"}

var (
	// envExpr is Serverless Devs' ${env('NAME')} or ${env('NAME', 'default')}.
	envExpr  = regexp.MustCompile(`^\$\{env\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*(?:,\s*'([^']*)'\s*)?\)\}$`)
	varsExpr = regexp.MustCompile(`\$\{vars\.([A-Za-z0-9_]+)\}`)
)

// loadSYAML reads s.yaml with every ${vars.name} replaced, as s does before
// it hands props to a component; other ${...} expressions stay strings.
func loadSYAML(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(sYAMLFile)
	if err != nil {
		t.Fatal(err)
	}
	return parseSYAML(t, raw)
}

// parseSYAML is loadSYAML of the text raw.
func parseSYAML(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", sYAMLFile, err)
	}
	if doc["edition"] != "3.0.0" {
		t.Errorf("%s edition is %v, want 3.0.0 (Serverless Devs v3)", sYAMLFile, doc["edition"])
	}
	vars, _ := doc["vars"].(map[string]any)
	var resolve func(v any) any
	resolve = func(v any) any {
		switch v := v.(type) {
		case string:
			// A value that is one ${vars.name} takes the variable's value,
			// mappings and lists included.
			if m := varsExpr.FindStringSubmatch(v); m != nil && m[0] == v {
				if val, ok := vars[m[1]]; ok {
					return resolve(val)
				}
			}
			return varsExpr.ReplaceAllStringFunc(v, func(expr string) string {
				name := varsExpr.FindStringSubmatch(expr)[1]
				val, ok := vars[name]
				if !ok {
					t.Errorf("%s uses ${vars.%s}, which vars does not define", sYAMLFile, name)
				}
				return fmt.Sprint(val)
			})
		case map[string]any:
			for k, e := range v {
				v[k] = resolve(e)
			}
		case []any:
			for i, e := range v {
				v[i] = resolve(e)
			}
		}
		return v
	}
	resolve(doc)
	return doc
}

// deployedEnv is the environment s.yaml gives the function when deployed
// from a shell that sets none of the ${env()} variables.
func deployedEnv(t *testing.T, vars map[string]any) map[string]string {
	t.Helper()
	env := map[string]string{}
	for name, v := range vars {
		s, ok := v.(string)
		if !ok {
			t.Errorf("environmentVariables.%s is %T; FC takes strings, so quote it", name, v)
			continue
		}
		if m := envExpr.FindStringSubmatch(s); m != nil {
			s = m[2]
		} else if strings.Contains(s, "${") {
			t.Errorf("environmentVariables.%s is %q; use a literal, ${vars.name} or ${env('NAME', 'default')}", name, s)
			continue
		}
		env[name] = s
	}
	return env
}

func deployedConfig(t *testing.T) config.Config {
	t.Helper()
	props := yamlMap(t, yamlMap(t, yamlMap(t, loadSYAML(t), "resources"), "precheckwatch"), "props")
	env := deployedEnv(t, yamlMap(t, props, "environmentVariables"))
	cfg, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatalf("config.Load rejects s.yaml's environmentVariables: %v", err)
	}
	return cfg
}

// mnsOperationsCalled lists, as RAM actions, the MNS message operations the
// queue package calls on the SDK.
func mnsOperationsCalled(t *testing.T) []string {
	t.Helper()
	operations := []string{ // the MNS API's message operations
		"SendMessage", "BatchSendMessage", "ReceiveMessage", "BatchReceiveMessage", "DeleteMessage",
		"BatchDeleteMessage", "PeekMessage", "BatchPeekMessage", "ChangeMessageVisibility",
	}
	files, err := filepath.Glob(filepath.Join("queue", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no queue package sources: %v", err)
	}
	var actions []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && slices.Contains(operations, sel.Sel.Name) {
					if a := "mns:" + sel.Sel.Name; !slices.Contains(actions, a) {
						actions = append(actions, a)
					}
				}
			}
			return true
		})
	}
	if len(actions) == 0 {
		t.Fatal("found no MNS SDK calls in the queue package; has it moved?")
	}
	slices.Sort(actions)
	return actions
}

func queueMessages(queue string) string { return "acs:mns:*:*:/queues/" + queue + "/messages" }

// onlyTriggerOfType returns the one trigger of the type.
func onlyTriggerOfType(t *testing.T, props map[string]any, triggerType string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, tr := range yamlList(t, props, "triggers") {
		if m, ok := tr.(map[string]any); ok && m["triggerType"] == triggerType {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("s.yaml has %d %s triggers, want 1", len(found), triggerType)
	}
	return found[0]
}

// triggerNamed returns the trigger called name, which must be of
// triggerType.
func triggerNamed(t *testing.T, props map[string]any, name, triggerType string) map[string]any {
	t.Helper()
	for _, tr := range yamlList(t, props, "triggers") {
		if m, ok := tr.(map[string]any); ok && m["triggerName"] == name {
			if m["triggerType"] != triggerType {
				t.Fatalf("trigger %s is a %v trigger, want %s", name, m["triggerType"], triggerType)
			}
			return m
		}
	}
	t.Fatalf("s.yaml has no trigger %s", name)
	return nil
}

// yamlAt follows a dotted path through nested maps; nil when absent.
func yamlAt(v any, dotted string) any {
	for _, key := range strings.Split(dotted, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

func yamlMap(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s: %s is %T, want a mapping", sYAMLFile, key, m[key])
	}
	return v
}

func yamlList(t *testing.T, m map[string]any, key string) []any {
	t.Helper()
	v, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%s: %s is %T, want a list", sYAMLFile, key, m[key])
	}
	return v
}

func yamlString(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key].(string)
	if !ok {
		t.Fatalf("%s: %s is %T, want a string", sYAMLFile, key, m[key])
	}
	return v
}

func yamlNumber(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	switch v := m[key].(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	t.Fatalf("%s: %s is %T, want a number", sYAMLFile, key, m[key])
	return 0
}

// jsonValue converts decoded YAML to the values the schema validator
// expects of decoded JSON.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeployedStreamIsSYAMLs keeps the demo's and the bench's EventBridge
// trigger the one s.yaml deploys, dead-letter queue included.
func TestDeployedStreamIsSYAMLs(t *testing.T) {
	doc := loadSYAML(t)
	props := yamlMap(t, yamlMap(t, yamlMap(t, doc, "resources"), "precheckwatch"), "props")
	tc := yamlMap(t, onlyTriggerOfType(t, props, "eventbridge"), "triggerConfig")
	cloud, err := localcloud.Start(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cloud.Close()
	got := cloud.DeployedStream()

	if skip := yamlAt(tc, "eventSourceConfig.eventSourceParameters.sourceMNSParameters.IsBase64Decode") == false; got.SkipBase64Decode != skip {
		t.Errorf("SkipBase64Decode is %v; s.yaml's IsBase64Decode is %v", got.SkipBase64Decode, !skip)
	}
	strategies := map[string]eventbridge.RetryStrategy{"BACKOFF_RETRY": eventbridge.BackoffRetry, "EXPONENTIAL_DECAY_RETRY": eventbridge.ExponentialDecayRetry}
	if want := strategies[fmt.Sprint(yamlAt(tc, "runOptions.retryStrategy.PushRetryStrategy"))]; got.RetryStrategy != want {
		t.Errorf("RetryStrategy is %d, s.yaml's is %v", got.RetryStrategy, yamlAt(tc, "runOptions.retryStrategy.PushRetryStrategy"))
	}
	window := yamlMap(t, yamlMap(t, tc, "runOptions"), "batchWindow")
	if want := int(yamlNumber(t, window, "CountBasedWindow")); got.BatchSize != want {
		t.Errorf("BatchSize is %d, s.yaml's CountBasedWindow is %d", got.BatchSize, want)
	}
	if want := time.Duration(yamlNumber(t, window, "TimeBasedWindow")) * time.Second; got.BatchWindow != want {
		t.Errorf("BatchWindow is %s, s.yaml's TimeBasedWindow is %s", got.BatchWindow, want)
	}
	if got.QueueName != deployedConfig(t).Queue {
		t.Errorf("the stream reads %s, s.yaml's PRECHECK_QUEUE is %s", got.QueueName, deployedConfig(t).Queue)
	}

	eventDLQ := fmt.Sprint(yamlMap(t, doc, "vars")["eventDeadLetterQueue"])
	if eventDLQ != localcloud.EventDeadLetterQueue {
		t.Fatalf("the local cloud's event dead-letter queue is %s, s.yaml's is %s", localcloud.EventDeadLetterQueue, eventDLQ)
	}
	if got.DeadLetter == nil {
		t.Fatal("the stream has no dead-letter queue; s.yaml gives it one, and without it EventBridge discards failed batches")
	}
	const event = `{"id":"e1","type":"mns:Queue:SendMessage","data":{"messageBody":"x"}}`
	if err := got.DeadLetter(context.Background(), []byte(event)); err != nil {
		t.Fatal(err)
	}
	msgs := cloud.MNS.Messages(eventDLQ)
	if len(msgs) != 1 || msgs[0].Body != event {
		t.Errorf("the dead letter went to %s as %+v, want the event verbatim", eventDLQ, msgs)
	}
}
