package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

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
	if _, err := r.Cloud.MNS.Send(localcloud.PendingQueue, unreadable, 0); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := r.stream(ctx)
	r.waitPosted(30*time.Second, nil, polled.TaskID, failed.TaskID, novel.TaskID)
	// A duplicate would come from a message still queued or an invocation
	// still running.
	r.waitQuiet(10*time.Second, nil)

	for _, id := range []string{polled.TaskID, failed.TaskID, novel.TaskID} {
		if p := r.Posts(id); !postedOnce(p) {
			t.Errorf("%s posted %v times, want once on each channel", id, p)
		}
	}
	// The unreadable body is dead-lettered verbatim; the batch went on.
	if got := r.Cloud.MNS.Bodies(localcloud.DeadLetterQueue); len(got) != 1 || got[0] != unreadable {
		t.Errorf("dead-letter queue holds %q, want the unreadable body verbatim", got)
	}
	// The polled task was requeued once per running poll, each delay in
	// [BACKOFF_INITIAL, its doubling ceiling], then finished once.
	fates := r.Fates(polled.TaskID)
	if len(fates) != 5 || fates[4].Decision != handler.Finished || fates[4].Verdict != precheck.Warning || len(fates[4].Missing) != 0 {
		t.Fatalf("fates of the polled task = %+v", fates)
	}
	for i, d := range fates[:4] {
		ceiling := min(200*time.Millisecond<<i, time.Second)
		if d.Decision != handler.Requeued || d.Attempt != i+1 || d.Delay() < 200*time.Millisecond || d.Delay() > ceiling {
			t.Errorf("poll %d: %+v (delay %v, want 200ms..%v)", i+1, d, d.Delay(), ceiling)
		}
		if want := []int{0, 25, 50, 75}[i]; d.Progress != want {
			t.Errorf("poll %d progress %d, want %d", i+1, d.Progress, want)
		}
	}
	// Unknown item and result value: shown verbatim, counted as failed.
	for _, m := range r.Cloud.Slack.Messages() {
		if text := m.PlainText(); strings.Contains(text, novel.TaskID) {
			for _, want := range []string{"FAILED", "ORACLE_TDE_WALLET", "MAYBE", "ARCHIVELOG", "NOT_ARCHIVELOG", "i-ledger"} {
				if !strings.Contains(text, want) {
					t.Errorf("Slack message for the novel task lacks %q:\n%s", want, text)
				}
			}
		}
	}
	if r.Posts(failed.TaskID)["dingtalk"] == 1 {
		for _, m := range r.Cloud.DingTalk.Messages() {
			if strings.Contains(m.PlainText(), failed.TaskID) && !strings.Contains(m.PlainText(), "ERROR") {
				t.Errorf("DingTalk message for the failed precheck does not say ERROR:\n%s", m.PlainText())
			}
		}
	}
	cancel()
	if st := stream.Stats(); st.DeadLettered != 0 || st.Discarded != 0 || st.Left != 0 {
		t.Errorf("stream gave up on messages: %+v", st)
	}
	if st := r.Cloud.MNS.Stats(localcloud.PendingQueue); st.Active+st.Delayed != 0 {
		t.Errorf("pending queue not drained: %+v", st)
	}
	assertNoSecrets(t, r.Output.String())
}

func TestTimerSweepEndToEnd(t *testing.T) {
	r := newRig(t, [2]string{"TASK_DEADLINE", "1500ms"})
	at := time.Now().Add(-time.Minute)
	quick := precheck.Task{TaskID: "t-timer-quick", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL", Label: "orders-db"}
	r.seed(quick, securitycenter.Task{Polls: []int{10, 100}, Result: securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-orders", at, nil))})
	stuck := precheck.Task{TaskID: "t-timer-stuck", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL"}
	r.seed(stuck, securitycenter.Task{Duration: time.Hour})
	// A burst of throttling from Security Center: retried, never dropped.
	r.Cloud.SASFaults.Set(fault.Throttle, 0.3)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sweep := func() {
		if res, err := r.timer.Fire(ctx); err != nil {
			t.Fatalf("timer invocation failed: %v %+v", err, res)
		}
		// Skip the backoff delays on the queue's clock.
		r.Cloud.MNS.Advance(time.Minute)
	}
	r.waitPosted(25*time.Second, sweep, quick.TaskID, stuck.TaskID)
	r.Cloud.SASFaults.Set(fault.Throttle, 0)
	sweep()
	sweep()

	for _, id := range []string{quick.TaskID, stuck.TaskID} {
		if p := r.Posts(id); !postedOnce(p) {
			t.Errorf("%s posted %v times, want once on each channel", id, p)
		}
	}
	last := r.Fates(stuck.TaskID)
	if len(last) == 0 || last[len(last)-1].Verdict != precheck.TimedOut {
		t.Errorf("stuck task did not time out: %+v", last)
	}
	if r.Cloud.SASFaults.Counts()[fault.Throttle] == 0 {
		t.Error("no throttling was injected; the test proves nothing about it")
	}
	if st := r.Cloud.MNS.Stats(localcloud.PendingQueue); st.Active+st.Delayed+st.Inactive != 0 {
		t.Errorf("pending queue not empty: %+v", st)
	}
	assertNoSecrets(t, r.Output.String())
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
		return rig.STSKeys
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
		res, err := r.Fn.Invoke(context.Background(), []byte(event))
		if err == nil || res.Error == nil || res.Error.Message == "" {
			t.Errorf("event %s: want a function error, got %+v, %v", event, res, err)
			continue
		}
		if strings.Contains(res.Error.Message, "panic") {
			t.Errorf("event %s panicked: %s", event, res.Error.Message)
		}
	}
	if st := r.Fn.Stats(); st.ColdStarts != 1 || st.Kills != 0 {
		t.Errorf("the instance did not survive bad events: %+v", st)
	}
}
