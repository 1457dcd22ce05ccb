//go:build !nolocalcloud

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/internal/redistest"
	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// startLocalCloud runs the localcloud command and applies its export lines
// to the test's environment, as sourcing its env file would. It returns the
// command's output after the export lines: the chat messages it shows.
func startLocalCloud(t *testing.T, flags ...string) *fcruntime.Output {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	code := -1
	envFile := filepath.Join(t.TempDir(), "localcloud.env")
	args := append([]string{"--sas", "127.0.0.1:0", "--mns", "127.0.0.1:0", "--slack", "127.0.0.1:0", "--dingtalk", "127.0.0.1:0", "--feishu", "127.0.0.1:0", "--env-file", envFile}, flags...)
	go func() {
		defer wg.Done()
		defer pw.Close()
		code = runLocalCloud(ctx, args, pw, io.Discard)
	}()
	inbox := &fcruntime.Output{}
	t.Cleanup(func() {
		cancel()
		go func() { _, _ = io.Copy(io.Discard, pr) }() // in case the test stopped reading early
		wg.Wait()
		if code != exitOK {
			t.Errorf("localcloud exited %d after an interrupt, want 0", code)
		}
		if _, err := os.Stat(envFile); !os.IsNotExist(err) {
			t.Errorf("localcloud left its env file behind: %v", err)
		}
	})
	sc := bufio.NewScanner(pr)
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") {
			break // the export lines are done
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !strings.HasPrefix(line, "export ") || !ok {
			t.Fatalf("localcloud printed %q, want export NAME=value lines", line)
		}
		t.Setenv(name, strings.Trim(value, "'"))
		seen[name] = true
	}
	go func() { _, _ = io.Copy(inbox, pr) }()
	for _, want := range []string{"PRECHECK_QUEUE", "PRECHECK_DEAD_LETTER_QUEUE", "MNS_ENDPOINT", "SAS_ENDPOINT", "SLACK_BOT_TOKEN",
		"SLACK_CHANNEL", "SLACK_API_URL", "DINGTALK_WEBHOOK_URL", "DINGTALK_SECRET", "FEISHU_WEBHOOK_URL", "FEISHU_SECRET",
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} {
		if !seen[want] {
			t.Fatalf("localcloud did not export %s (got %v)", want, seen)
		}
	}
	file, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("localcloud wrote no env file: %v", err)
	}
	for name := range seen {
		if !strings.Contains(string(file), "export "+name+"=") {
			t.Errorf("the env file lacks %s:\n%s", name, file)
		}
	}
	return inbox
}

func TestHelpAndUsage(t *testing.T) {
	code, out, _ := cli(t, "--help")
	if code != exitOK || !strings.Contains(out, "demo") || !strings.Contains(out, "localcloud") {
		t.Fatalf("--help: %d %q", code, out)
	}
	if code, _, _ := cli(t); code != exitUsage {
		t.Errorf("no command: exit %d, want %d", code, exitUsage)
	}
	if code, _, errOut := cli(t, "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	for _, c := range commands() {
		code, out, errOut := cli(t, c.name, "--help")
		if code != exitOK || !strings.HasPrefix(out, "Usage: precheckwatch "+c.name) || errOut != "" {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q; want the usage on stdout and exit 0", c.name, code, out, errOut)
		}
		code, out, errOut = cli(t, c.name, "--no-such-flag")
		if code != exitUsage || out != "" || !strings.Contains(errOut, "-no-such-flag") || !strings.Contains(errOut, "Usage: precheckwatch "+c.name) {
			t.Errorf("%s with a bad flag: exit %d, stdout %q, stderr %q; want the error and usage on stderr and exit %d", c.name, code, out, errOut, exitUsage)
		}
	}
}

// Each command's --help lists exactly the flags it reads, and offers only
// values it accepts.
func TestHelpListsWhatEachCommandTakes(t *testing.T) {
	flagsIn := func(help string) []string {
		var names []string
		for _, line := range strings.Split(help, "\n") {
			if f, ok := strings.CutPrefix(line, "  -"); ok {
				names = append(names, strings.Fields(f)[0])
			}
		}
		return names
	}
	for _, tc := range []struct {
		command string
		flags   []string
	}{
		{"status", []string{"instance-uuid", "region"}},
		{"enqueue", []string{"database-type", "instance-uuid", "label", "region", "skip-check", "task-id"}},
		{"start", []string{"database-type", "instance-uuid", "label", "region"}},
		{"fleet", []string{"dry-run", "match", "region", "run", "timeout", "type"}},
	} {
		_, out, _ := cli(t, tc.command, "--help")
		if got := flagsIn(out); !slices.Equal(got, tc.flags) {
			t.Errorf("%s --help lists %v, want %v:\n%s", tc.command, got, tc.flags, out)
		}
	}

	_, help, _ := cli(t, "bench", "--help")
	if strings.Contains(help, "both") {
		t.Errorf("bench --help offers \"both\":\n%s", help)
	}
	if code, _, errOut := cli(t, "bench", "--channels", "both"); code != exitUsage || !strings.Contains(errOut, "both") {
		t.Errorf("bench --channels both: exit %d %q, want a usage error", code, errOut)
	}
}

// The CLI against the local cloud: localcloud's exports point start,
// enqueue, status and invoke at the emulators.
func TestCommandsAgainstLocalCloud(t *testing.T) {
	startLocalCloud(t)

	code, out, errOut := cli(t, "start", "--database-type", "MYSQL", "--instance-uuid", "u-cli", "--region", "cn-hangzhou", "--label", "cli-db")
	if code != exitOK || !strings.Contains(out, "started precheck task t-") || !strings.Contains(out, "enqueued task") {
		t.Fatalf("start: %d %q %q", code, out, errOut)
	}
	taskID := strings.Fields(strings.SplitN(out, "\n", 2)[0])[3]

	if code, _, errOut := cli(t, "start", "--database-type", "MYSQL"); code != exitUsage || !strings.Contains(errOut, "missing --instance-uuid") {
		t.Errorf("start without flags: %d %q", code, errOut)
	}
	if code, _, errOut := cli(t, "enqueue", "--region", "cn-hangzhou"); code != exitUsage || !strings.Contains(errOut, "taskId") {
		t.Errorf("enqueue without a task id: %d %q", code, errOut)
	}
	if code, out, errOut := cli(t, "enqueue", "--task-id", taskID, "--region", "cn-hangzhou"); code != exitOK || !strings.Contains(out, "enqueued task "+taskID+" on precheck-pending") {
		t.Errorf("enqueue of a task Security Center knows: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{
		{"enqueue", "--task-id", "t-1", "--region", "cn-hangzhou"},
		{"enqueue", "--task-id", taskID, "--region", "xx-bad-9"},
	} {
		if code, out, errOut := cli(t, args...); code != exitNotFound || out != "" || !strings.Contains(errOut, "knows no task") || !strings.Contains(errOut, "--skip-check") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and the reason", args, code, out, errOut, exitNotFound)
		}
	}
	if code, out, _ := cli(t, "enqueue", "--task-id", "t-cli-manual", "--region", "cn-hangzhou", "--skip-check"); code != exitOK || !strings.Contains(out, "enqueued task t-cli-manual on precheck-pending") {
		t.Errorf("enqueue --skip-check: %d %q", code, out)
	}

	if code, out, _ := cli(t, "status", "--region", "cn-hangzhou", taskID); code != exitOK || !strings.Contains(out, "still running") {
		t.Errorf("status of a running task: %d %q", code, out)
	}
	if code, _, errOut := cli(t, "status", "--region", "cn-hangzhou", "t-nobody-knows"); code != exitNotFound || !strings.Contains(errOut, "knows no task") {
		t.Errorf("status of an unknown task: %d %q", code, errOut)
	}
	if code, _, _ := cli(t, "status"); code != exitUsage {
		t.Errorf("status without a task id: exit %d", code)
	}

	code, out, errOut = cli(t, "invoke", "--event", filepath.Join("..", "events", "timer.json"))
	var rep struct {
		Trigger  string `json:"trigger"`
		Received int    `json:"received"`
		Checked  int    `json:"checked"`
		Requeued int    `json:"requeued"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || rep.Trigger != "timer" || rep.Received != 3 || rep.Requeued != 3 {
		t.Fatalf("invoke timer: %d %+v\n%s\n%s", code, rep, out, errOut)
	}
	if code, _, _ := cli(t, "invoke"); code != exitUsage {
		t.Errorf("invoke without --event: exit %d", code)
	}
	bad := t.TempDir() + "/bad.json"
	if err := os.WriteFile(bad, []byte(`{"hello":"world"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, "invoke", "--event", bad); code != exitFailure || !strings.Contains(errOut, "unrecognised event") {
		t.Errorf("invoke with a bad event: %d %q", code, errOut)
	}
	for _, s := range []string{localcloud.AccessKeySecret, localcloud.SlackToken, localcloud.DingTalkSecret} {
		if strings.Contains(out+errOut, s) {
			t.Errorf("a command printed the secret %q", s)
		}
	}
}

// localCloudInEnv starts a local cloud in the test and points the
// environment at it, as sourcing localcloud's env file does.
func localCloudInEnv(t *testing.T) *localcloud.Cloud {
	t.Helper()
	cloud, err := localcloud.Start(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)
	for _, kv := range cloud.Env() {
		t.Setenv(kv[0], kv[1])
	}
	return cloud
}

// status prints a finished task as the message reads.
func TestStatusOfFinishedTask(t *testing.T) {
	cloud := localCloudInEnv(t)
	result := securitycenter.ResultJSON(securitycenter.Check("MSSQL", "i-status", time.Now(), map[string]string{"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": "WARNING"}))
	if err := cloud.SAS.AddTask(securitycenter.Task{ID: "t-status-done", DatabaseType: "MSSQL", Polls: []int{100}, Result: result}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "status", "--region", "cn-hangzhou", "t-status-done")
	if code != exitOK {
		t.Fatalf("status: %d %q", code, errOut)
	}
	for _, want := range []string{"WARNING", "t-status-done", "i-status", "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "SET RECOVERY FULL"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// One query by hand is not the function's wait for the verdict.
	for _, wrong := range []string{"1 query", "from first seen", "(warning)"} {
		if strings.Contains(out, wrong) {
			t.Errorf("status output says %q:\n%s", wrong, out)
		}
	}
	// The README's order: the task id, then the flags.
	if code, again, _ := cli(t, "status", "t-status-done", "--region", "cn-hangzhou"); code != exitOK || again != out {
		t.Errorf("status TASK_ID --region: exit %d, output\n%s\nwant the same as with the flags first:\n%s", code, again, out)
	}
}

// start never loses the precheck it started: when the queue cannot be
// reached it prints the task id and the enqueue command, which then works.
func TestStartWhoseEnqueueFailsSaysHowToEnqueue(t *testing.T) {
	startLocalCloud(t)
	mns := os.Getenv("MNS_ENDPOINT")
	t.Setenv("MNS_ENDPOINT", closedPortURL(t))

	code, out, errOut := cli(t, "start", "--database-type", "MYSQL", "--instance-uuid", "u-lost", "--region", "cn-hangzhou", "--label", "it's orders")
	if code != exitNotEnqueued || !strings.HasPrefix(out, "started precheck task t-") {
		t.Fatalf("start with MNS unreachable: exit %d, stdout %q, stderr %q; want exit %d", code, out, errOut, exitNotEnqueued)
	}
	taskID := strings.Fields(out)[3]
	_, command, ok := strings.Cut(errOut, "enqueue it with:\n  ")
	if !ok || !strings.Contains(errOut, taskID+" started but not enqueued") {
		t.Fatalf("start did not say how to enqueue %s:\n%s", taskID, errOut)
	}
	self, rest, ok := strings.Cut(strings.TrimSpace(command), " enqueue ")
	if !ok || self != "go run ." {
		t.Fatalf("the command %q is not \"go run . enqueue …\" (go test builds in Go's build cache, as go run does)", command)
	}
	words, err := exec.Command("sh", "-c", "printf '%s\\n' "+rest).Output()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"enqueue"}, strings.Split(strings.TrimSuffix(string(words), "\n"), "\n")...)
	if !slices.Contains(args, "it's orders") || !slices.Contains(args, taskID) {
		t.Fatalf("the command's words are %q", args)
	}

	t.Setenv("MNS_ENDPOINT", mns)
	if code, out, errOut := cli(t, args...); code != exitOK || !strings.Contains(out, "enqueued task "+taskID) {
		t.Fatalf("%q: exit %d %q %q", args, code, out, errOut)
	}
}

// closedPortURL is an http URL on which nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// The local cloud by hand: a precheck started through it finishes after
// --precheck-duration, one timer invocation posts its verdict, and
// localcloud shows the messages its chat emulators received.
func TestLocalCloudShowsTheMessagesItReceives(t *testing.T) {
	inbox := startLocalCloud(t, "--precheck-duration", "1ms")
	code, out, errOut := cli(t, "start", "--database-type", "MYSQL", "--instance-uuid", "u-inbox", "--region", "cn-hangzhou", "--label", "inbox-db")
	if code != exitOK {
		t.Fatalf("start: %d %q %q", code, out, errOut)
	}
	taskID := strings.Fields(out)[3]
	code, out, errOut = cli(t, "invoke", "--event", filepath.Join("..", "events", "timer.json"))
	var rep struct {
		Finished int            `json:"finished"`
		Notified map[string]int `json:"notified"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || rep.Finished != 1 {
		t.Fatalf("invoke: exit %d, want one finished task:\n%s\n%s", code, out, errOut)
	}
	shown := waitfor.Condition(10*time.Second, func() bool {
		return strings.Count(inbox.String(), taskID) >= 2 && strings.Contains(inbox.String(), "DingTalk db-oncall")
	})
	if !shown {
		t.Fatalf("localcloud did not show the Slack and DingTalk messages of %s within 10s; it showed:\n%s", taskID, inbox.String())
	}
	for _, want := range []string{"Slack #" + localcloud.SlackChannel, "DingTalk db-oncall", "inbox-db", "PASSED"} {
		if !strings.Contains(inbox.String(), want) {
			t.Errorf("localcloud's output lacks %q:\n%s", want, inbox.String())
		}
	}
	if strings.Contains(inbox.String(), "(good)") {
		t.Errorf("localcloud names the attachment's colour:\n%s", inbox.String())
	}
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--tasks", "0"}, exitUsage},
		{[]string{"--trigger", "http"}, exitUsage},
		{[]string{"--channels", "email"}, exitUsage},
		{[]string{"--running", "1.5"}, exitUsage},
		{[]string{"--memory-mb", "64"}, exitUsage},
		{[]string{"--memory-mb", "200"}, exitUsage},
		{[]string{"--dedupe", "etcd"}, exitUsage},
		{[]string{"--redis-latency", "-1ms"}, exitUsage},
		{[]string{"--visibility", "1500ms"}, exitUsage},
		{[]string{"--help"}, exitOK},
	} {
		var stdout, stderr bytes.Buffer
		if got := runBench(context.Background(), tc.args, &stdout, &stderr); got != tc.want {
			t.Errorf("bench %v exited %d, want %d; stderr: %s", tc.args, got, tc.want, stderr.String())
		}
		// Only --help prints to stdout: a rejected run prints its reason to stderr.
		if (stdout.Len() != 0) != (tc.want == exitOK) {
			t.Errorf("bench %v printed %q to stdout", tc.args, stdout.String())
		}
	}
}

// fleet lists, plans and starts a fleet run against the local cloud's
// fleet; the same run again starts nothing; bad flags say what is wrong.
func TestFleetCommand(t *testing.T) {
	cloud := localCloudInEnv(t)
	fleetDBs := securitycenter.GenerateFleet(80, 9)
	var want []string
	for _, d := range fleetDBs {
		cloud.SAS.AddDatabase(d)
		if ok, _ := path.Match("prod-*", d.InstanceName); ok && d.UniRegionID == "cn-hangzhou" && d.DatabaseType == "MYSQL" {
			want = append(want, d.InstanceName)
		}
	}
	if len(want) == 0 {
		t.Fatal("the generated fleet has no prod MySQL database in cn-hangzhou")
	}
	code, out, errOut := cli(t, "fleet", "--region", "cn-hangzhou", "--type", "mysql", "--match", "prod-*", "--dry-run")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("would check %d databases", len(want))) {
		t.Fatalf("fleet --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	for _, name := range want {
		if !strings.Contains(out, name) {
			t.Errorf("the dry run does not list %s:\n%s", name, out)
		}
	}
	if n := cloud.SAS.Calls(securitycenter.ActionStartPreCheckDatabase); n != 0 {
		t.Fatalf("a dry run started %d prechecks", n)
	}

	// A run recorded in this process only is said to be.
	run := []string{"fleet", "--region", "cn-hangzhou", "--type", "MYSQL", "--match", "prod-*", "--run", "cli-fleet-1"}
	if code, _, errOut = cli(t, append(run, "--dry-run")...); code != exitOK || !strings.Contains(errOut, "DEDUPE_URL is memory://") {
		t.Errorf("fleet with a memory record: exit %d, stderr %q; want a warning", code, errOut)
	}
	// The function's shared record lets the same command resume the run.
	t.Setenv("DEDUPE_URL", redistest.Run(t).URL)
	code, out, errOut = cli(t, run...)
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("started %d prechecks, enqueued %d tasks on precheck-pending", len(want), len(want))) {
		t.Fatalf("fleet: exit %d\n%s%s", code, out, errOut)
	}
	bodies := cloud.MNS.Bodies(localcloud.PendingQueue)
	if len(bodies) != len(want) {
		t.Fatalf("%d tasks queued, want %d", len(bodies), len(want))
	}
	for _, b := range bodies {
		task, err := precheck.ParseTask([]byte(b))
		if err != nil || task.Run != "cli-fleet-1" || !slices.Contains(want, task.Label) {
			t.Fatalf("queued %q: %+v, %v", b, task, err)
		}
	}
	if code, out, _ = cli(t, run...); code != exitOK || !strings.Contains(out, "resumed") || !strings.Contains(out, "started 0 prechecks") {
		t.Fatalf("the same run again: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fleet"}, "no region"},
		{[]string{"fleet", "--region", "cn-hangzhou", "--type", "DB2"}, `database type "DB2" is not MYSQL, MSSQL or Oracle`},
		{[]string{"fleet", "--region", "cn-hangzhou", "--match", "prod-["}, "not a valid pattern"},
		{[]string{"fleet", "--region", "cn-hangzhou", "--run", "a b"}, `run id "a b"`},
	} {
		if code, _, errOut := cli(t, tc.args...); code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want a usage error containing %q", tc.args, code, errOut, tc.want)
		}
	}
}
