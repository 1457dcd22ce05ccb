package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/internal/gobuild"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// functionBinary is the function built once for every end-to-end test, as
// s.yaml deploys it: without the local cloud.
var functionBinary string

func TestMain(m *testing.M) {
	binary, remove, err := gobuild.Build("precheckwatch", "-tags", "nolocalcloud")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	functionBinary = binary
	code := m.Run()
	remove()
	os.Exit(code)
}

// rig is the local cloud with the real function binary under the emulated
// FC runtime.
type rig struct {
	t      *testing.T
	cloud  *localcloud.Cloud
	fn     *fcruntime.Function
	output *fcruntime.Output
	timer  *eventbridge.Timer
}

// stsKeys are the function role's keys, handed over with each invocation.
var stsKeys = secret.Credentials{AccessKeyID: localcloud.STSAccessKeyID, AccessKeySecret: localcloud.STSAccessKeySecret, SecurityToken: localcloud.STSToken}

func newRig(t *testing.T, overrides ...[2]string) *rig {
	t.Helper()
	env := append([][2]string{
		{"BACKOFF_INITIAL", "200ms"}, {"BACKOFF_MAX", "1s"}, {"TASK_DEADLINE", "10m"}, {"LOG_LEVEL", "debug"},
	}, overrides...)
	return startRig(t, rigConfig{cloud: localcloud.Options{Seed: 7}, env: env, timeout: 20 * time.Second})
}

// rigConfig is what differs between rigs.
type rigConfig struct {
	cloud        localcloud.Options
	env          [][2]string // the function's settings beyond the cloud's
	timeout      time.Duration
	timerPayload string
	// maxInstances caps the function's instances; 0 lets it scale out as
	// FC does.
	maxInstances int
}

// startRig starts the local cloud and the function on it. The function has
// no keys in its environment: it must use each invocation's STS keys.
func startRig(t *testing.T, cfg rigConfig) *rig {
	t.Helper()
	cloud, err := localcloud.Start(cfg.cloud)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)
	r := &rig{t: t, cloud: cloud, output: &fcruntime.Output{}}
	env := append([][2]string{{"ALIBABA_CLOUD_ACCESS_KEY_ID", ""}, {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""}}, cfg.env...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fn, err := fcruntime.Start(ctx, fcruntime.Config{
		Binary:       functionBinary,
		FunctionName: "precheckwatch",
		Env:          fcruntime.Environ(cloud.Env(), env),
		Timeout:      cfg.timeout,
		MaxInstances: cfg.maxInstances,
		Credentials:  func() secret.Credentials { return stsKeys },
		Stdout:       r.output,
		Stderr:       r.output,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	r.fn = fn
	r.timer, err = eventbridge.NewTimer(fn, eventbridge.TimerConfig{Name: "sweep", Payload: cfg.timerPayload})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stream starts an EventBridge stream on the pending queue.
func (r *rig) stream(ctx context.Context) *eventbridge.Stream {
	s, err := eventbridge.NewStream(r.fn, eventbridge.StreamConfig{
		Queue: r.cloud.MNS, QueueName: localcloud.PendingQueue, FunctionName: "precheckwatch",
		BatchSize: 10, BatchWindow: 200 * time.Millisecond, RetryScale: 0.02,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	go func() { _ = s.Run(ctx) }()
	return s
}

// seed registers a scripted task with Security Center and enqueues it.
func (r *rig) seed(task precheck.Task, script securitycenter.Task) {
	r.t.Helper()
	script.ID, script.InstanceUUID, script.UniRegionID = task.TaskID, task.InstanceUUID, task.UniRegionID
	if script.DatabaseType == "" {
		script.DatabaseType = task.DatabaseType
	}
	if err := r.cloud.SAS.AddTask(script); err != nil {
		r.t.Fatal(err)
	}
	body, err := task.Encode()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.cloud.MNS.Send(localcloud.PendingQueue, string(body), 0); err != nil {
		r.t.Fatal(err)
	}
}

// posts counts the final messages on each channel that name taskID.
func (r *rig) posts(taskID string) (slackN, dingN int) {
	for _, m := range r.cloud.Slack.Messages() {
		if strings.Contains(m.PlainText(), taskID) {
			slackN++
		}
	}
	for _, m := range r.cloud.DingTalk.Messages() {
		if strings.Contains(m.PlainText(), taskID) {
			dingN++
		}
	}
	return slackN, dingN
}

// feishuPosts counts the final Feishu messages that name taskID.
func (r *rig) feishuPosts(taskID string) int {
	n := 0
	for _, m := range r.cloud.Feishu.Messages() {
		if strings.Contains(m.PlainText(), taskID) {
			n++
		}
	}
	return n
}

// waitPosted waits until every task has a message on every channel.
func (r *rig) waitPosted(timeout time.Duration, tick func(), taskIDs ...string) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := []string{}
		for _, id := range taskIDs {
			if s, d := r.posts(id); s == 0 || d == 0 || r.feishuPosts(id) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no verdict on every channel for %v after %s; function output:\n%s", missing, timeout, r.output.Tail(4000))
		}
		if tick != nil {
			tick()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// decisions returns the function's logged decisions about taskID.
func (r *rig) decisions(taskID string) []decision { return decisionsIn(r.output, taskID) }

// decision is a "task decided" line of the function's JSON log.
type decision struct {
	Msg      string           `json:"msg"`
	TaskID   string           `json:"taskId"`
	Attempt  int              `json:"attempt"`
	Decision string           `json:"decision"`
	Verdict  precheck.Verdict `json:"verdict"`
	Progress int              `json:"progress"`
	Delay    string           `json:"delay"`
}

// decisionsIn are the function's "task decided" log lines about taskID.
func decisionsIn(output *fcruntime.Output, taskID string) []decision {
	var out []decision
	for _, line := range strings.Split(output.String(), "\n") {
		var l decision
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "task decided" && l.TaskID == taskID {
			out = append(out, l)
		}
	}
	return out
}

// assertNoSecrets fails if any secret of the local cloud reached the output.
func assertNoSecrets(t *testing.T, output string) {
	t.Helper()
	for _, s := range []string{localcloud.AccessKeySecret, localcloud.STSAccessKeySecret, localcloud.STSToken,
		localcloud.SlackToken, localcloud.DingTalkSecret, localcloud.DingTalkToken, "localcloudwebhooksecret",
		localcloud.FeishuToken, localcloud.FeishuSecret} {
		if strings.Contains(output, s) {
			t.Errorf("secret %q appears in the function's output", s)
		}
	}
}

func TestMNSTriggerEndToEnd(t *testing.T) {
	r := newRig(t)
	at := time.Now().Add(-time.Minute)
	polled := precheck.Task{TaskID: "t-e2e-polled", UniRegionID: "cn-hangzhou", InstanceUUID: "uuid-1", DatabaseType: "MSSQL", Label: "billing-sql"}
	r.seed(polled, securitycenter.Task{Polls: []int{0, 25, 50, 75, 100},
		Result: securitycenter.ResultJSON(securitycenter.Check("MSSQL", "i-billing", at, map[string]string{"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": "WARNING"}))})
	failed := precheck.Task{TaskID: "t-e2e-error", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL"}
	r.seed(failed, securitycenter.Task{Polls: []int{0, 30}, Description: securitycenter.DescriptionError})
	novel := precheck.Task{TaskID: "t-e2e-novel", UniRegionID: "cn-shanghai", DatabaseType: "Oracle"}
	r.seed(novel, securitycenter.Task{Polls: []int{100},
		Result: securitycenter.ResultJSON(securitycenter.Check("ORACLE", "i-ledger", at, map[string]string{"ARCHIVELOG": "NOT_ARCHIVELOG", "ORACLE_TDE_WALLET": "MAYBE"}))})
	const unreadable = `{"taskId": 42`
	if _, err := r.cloud.MNS.Send(localcloud.PendingQueue, unreadable, 0); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := r.stream(ctx)
	r.waitPosted(30*time.Second, nil, polled.TaskID, failed.TaskID, novel.TaskID)
	time.Sleep(500 * time.Millisecond) // let any duplicate show itself

	for _, id := range []string{polled.TaskID, failed.TaskID, novel.TaskID} {
		if s, d := r.posts(id); s != 1 || d != 1 || r.feishuPosts(id) != 1 {
			t.Errorf("%s posted %d times to Slack, %d to DingTalk and %d to Feishu, want once each", id, s, d, r.feishuPosts(id))
		}
	}
	// The unreadable body is dead-lettered verbatim; the batch went on.
	if got := r.cloud.MNS.Bodies(localcloud.DeadLetterQueue); len(got) != 1 || got[0] != unreadable {
		t.Errorf("dead-letter queue holds %q, want the unreadable body verbatim", got)
	}
	// The polled task was requeued once per running poll, each delay in
	// [BACKOFF_INITIAL, its doubling ceiling], then finished once.
	ds := r.decisions(polled.TaskID)
	if len(ds) != 5 || ds[4].Decision != "finish" || ds[4].Verdict != precheck.Warning {
		t.Fatalf("decisions for the polled task = %+v", ds)
	}
	for i, d := range ds[:4] {
		delay, err := time.ParseDuration(d.Delay)
		ceiling := min(200*time.Millisecond<<i, time.Second)
		if err != nil || d.Decision != "requeue" || d.Attempt != i+1 || delay < 200*time.Millisecond || delay > ceiling {
			t.Errorf("poll %d: %+v (delay %v, want 200ms..%v)", i+1, d, delay, ceiling)
		}
		if want := []int{0, 25, 50, 75}[i]; d.Progress != want {
			t.Errorf("poll %d progress %d, want %d", i+1, d.Progress, want)
		}
	}
	// Unknown item and result value: shown verbatim, counted as failed.
	for _, m := range r.cloud.Slack.Messages() {
		if text := m.PlainText(); strings.Contains(text, novel.TaskID) {
			for _, want := range []string{"FAILED", "ORACLE_TDE_WALLET", "MAYBE", "ARCHIVELOG", "NOT_ARCHIVELOG", "i-ledger"} {
				if !strings.Contains(text, want) {
					t.Errorf("Slack message for the novel task lacks %q:\n%s", want, text)
				}
			}
		}
	}
	if _, d := r.posts(failed.TaskID); d == 1 {
		for _, m := range r.cloud.DingTalk.Messages() {
			if strings.Contains(m.PlainText(), failed.TaskID) && !strings.Contains(m.PlainText(), "ERROR") {
				t.Errorf("DingTalk message for the failed precheck does not say ERROR:\n%s", m.PlainText())
			}
		}
	}
	cancel()
	if st := stream.Stats(); st.DeadLettered != 0 || st.Discarded != 0 || st.Left != 0 {
		t.Errorf("stream gave up on messages: %+v", st)
	}
	if st := r.cloud.MNS.Stats(localcloud.PendingQueue); st.Active+st.Delayed != 0 {
		t.Errorf("pending queue not drained: %+v", st)
	}
	assertNoSecrets(t, r.output.String())
}

func TestTimerSweepEndToEnd(t *testing.T) {
	r := newRig(t, [2]string{"TASK_DEADLINE", "1500ms"})
	at := time.Now().Add(-time.Minute)
	quick := precheck.Task{TaskID: "t-timer-quick", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL", Label: "orders-db"}
	r.seed(quick, securitycenter.Task{Polls: []int{10, 100}, Result: securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-orders", at, nil))})
	stuck := precheck.Task{TaskID: "t-timer-stuck", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL"}
	r.seed(stuck, securitycenter.Task{Duration: time.Hour})
	// A burst of throttling from Security Center: retried, never dropped.
	r.cloud.SASFaults.Set(fault.Throttle, 0.3)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sweep := func() {
		if res, err := r.timer.Fire(ctx); err != nil {
			t.Fatalf("timer invocation failed: %v %+v", err, res)
		}
		// Skip the backoff delays on the queue's clock.
		r.cloud.MNS.Advance(time.Minute)
	}
	r.waitPosted(25*time.Second, sweep, quick.TaskID, stuck.TaskID)
	r.cloud.SASFaults.Set(fault.Throttle, 0)
	sweep()
	sweep()

	for _, id := range []string{quick.TaskID, stuck.TaskID} {
		if s, d := r.posts(id); s != 1 || d != 1 || r.feishuPosts(id) != 1 {
			t.Errorf("%s posted %d/%d/%d times to Slack, DingTalk and Feishu, want once each", id, s, d, r.feishuPosts(id))
		}
	}
	last := r.decisions(stuck.TaskID)
	if len(last) == 0 || last[len(last)-1].Verdict != precheck.TimedOut {
		t.Errorf("stuck task did not time out: %+v", last)
	}
	if r.cloud.SASFaults.Counts()[fault.Throttle] == 0 {
		t.Error("no throttling was injected; the test proves nothing about it")
	}
	if st := r.cloud.MNS.Stats(localcloud.PendingQueue); st.Active+st.Delayed+st.Inactive != 0 {
		t.Errorf("pending queue not empty: %+v", st)
	}
	assertNoSecrets(t, r.output.String())
}

// The function signs with the keys of each invocation, not the ones of its
// environment: keys that rotate after the instance started keep working.
func TestCredentialsComeFromTheInvocation(t *testing.T) {
	cloud, err := localcloud.Start(localcloud.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cloud.Close()
	// The key the instance starts with is unknown to the cloud; each
	// invocation carries a valid STS key.
	var mu sync.Mutex
	calls := 0
	creds := func() secret.Credentials {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return secret.Credentials{AccessKeyID: "STS.Retired", AccessKeySecret: "retired", SecurityToken: "retired"}
		}
		return stsKeys
	}
	out := &fcruntime.Output{}
	fn, err := fcruntime.Start(context.Background(), fcruntime.Config{
		Binary: functionBinary, FunctionName: "precheckwatch", Timeout: 20 * time.Second, Credentials: creds, Stdout: out, Stderr: out,
		Env: fcruntime.Environ(cloud.Env(), [][2]string{{"ALIBABA_CLOUD_ACCESS_KEY_ID", ""}, {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if err := cloud.SAS.AddTask(securitycenter.Task{ID: "t-sts", DatabaseType: "MYSQL", Polls: []int{100}}); err != nil {
		t.Fatal(err)
	}
	res, err := fn.Invoke(context.Background(), []byte(`{"taskId":"t-sts","uniRegionId":"cn-hangzhou"}`))
	if err != nil {
		t.Fatalf("invoke: %v; output:\n%s", err, out.String())
	}
	var rep struct {
		Checked  int            `json:"checked"`
		Finished int            `json:"finished"`
		Notified map[string]int `json:"notified"`
	}
	if err := json.Unmarshal(res.Body, &rep); err != nil || rep.Checked != 1 || rep.Finished != 1 || rep.Notified["slack"] != 1 || rep.Notified["dingtalk"] != 1 || rep.Notified["feishu"] != 1 {
		t.Fatalf("report = %s (%v); output:\n%s", res.Body, err, out.String())
	}
	if cloud.SAS.Calls("QueryPreCheckDatabase") != 1 {
		t.Errorf("QueryPreCheckDatabase called %d times", cloud.SAS.Calls("QueryPreCheckDatabase"))
	}
	assertNoSecrets(t, out.String())
}

// Events the function cannot read are answered with a clear error, and the
// instance lives on.
func TestMalformedEvents(t *testing.T) {
	r := newRig(t)
	for _, event := range []string{`"hello"`, `{"what":"ever"}`, `[]`, `{"triggerTime":"x","payload":"not json"}`} {
		res, err := r.fn.Invoke(context.Background(), []byte(event))
		if err == nil || res.Error == nil || res.Error.Message == "" {
			t.Errorf("event %s: want a function error, got %+v, %v", event, res, err)
			continue
		}
		if strings.Contains(res.Error.Message, "panic") {
			t.Errorf("event %s panicked: %s", event, res.Error.Message)
		}
	}
	if st := r.fn.Stats(); st.ColdStarts != 1 || st.Kills != 0 {
		t.Errorf("the instance did not survive bad events: %+v", st)
	}
}
