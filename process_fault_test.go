package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fault"
)

// With the delivery record unreachable (Redis frozen: connections open, no
// answers) no verdict is sent, since a send could not be told from a
// repeat, and every task stays queued; the operator is alerted once per
// channel, and the report counts the failed record calls. Once Redis
// answers, each task is posted once.
func TestRedisDownSendsNothingAndKeepsTasksQueued(t *testing.T) {
	b := newFaultBench(t, localcloud.Options{})
	b.seedTasks()
	if err := b.redis.Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 2 {
		rep, _ := b.sweep()
		if rep.RecordErrors == 0 {
			t.Errorf("sweep %d: no failed record call in the report %+v", i+1, rep)
		}
		if want := []int{2, 0}[i]; rep.Alerted != want {
			t.Errorf("sweep %d alerted %d times, want %d (once per channel per hour)", i+1, rep.Alerted, want)
		}
	}
	alerts := 0
	for _, m := range b.cloud.Slack.Messages() {
		if isRecordAlert(m.PlainText()) {
			alerts++
		}
	}
	for _, m := range b.cloud.DingTalk.Messages() {
		if isRecordAlert(m.PlainText()) {
			alerts++
		}
	}
	if alerts != 2 {
		t.Errorf("%d operator alerts name DEDUPE_URL, want one on each channel", alerts)
	}
	if took := time.Since(start); took > 2*benchInvocation {
		t.Errorf("two sweeps with Redis frozen took %s: a frozen Redis must not hold an invocation past its deadline", took)
	}
	for _, id := range b.ids {
		if s, d := b.posts(id); s != 0 || d != 0 {
			t.Errorf("%s posted %d/%d times without the delivery record", id, s, d)
		}
		if b.queued(id) == 0 {
			t.Errorf("%s left the queue while Redis was down", id)
		}
	}
	if err := b.redis.Resume(); err != nil {
		t.Fatal(err)
	}
	b.assertOnce()
}

// The function process is SIGKILLed while its send hangs after the channel
// accepted the message, so neither the answer nor the delivery record
// exists. The next invocation finds the Slack post in the channel's history
// and repeats the DingTalk one under its msgUuid: each channel shows the
// verdict once.
func TestKillMidSendIsSettled(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    localcloud.Options
		faults  func(*localcloud.Cloud) *fault.Injector
		posted  func(r *chaosRig, id string) bool
		settled string
	}{
		{"slack", localcloud.Options{SlackHangAfterPost: true}, func(c *localcloud.Cloud) *fault.Injector { return c.SlackFaults },
			func(r *chaosRig, id string) bool { s, _ := r.posts(id); return s > 0 }, `"msg":"earlier attempt found delivered"`},
		{"dingtalk", localcloud.Options{DingTalkHangAfterDelivery: true}, func(c *localcloud.Cloud) *fault.Injector { return c.DingTalkFaults },
			func(r *chaosRig, id string) bool { _, d := r.posts(id); return d > 0 }, `"task":"repeat of `},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newChaosRig(t, 1, c.opts, 0)
			r.seedRandom(1, 0)
			id := r.ids[0]
			c.faults(r.cloud).Set(fault.Hang, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			fired := make(chan struct{})
			go func() {
				defer close(fired)
				for !c.posted(r, id) && ctx.Err() == nil {
					_, _ = r.timer.Fire(ctx)
					r.cloud.MNS.Advance(time.Minute)
				}
			}()
			for !c.posted(r, id) {
				if ctx.Err() != nil {
					t.Fatalf("the verdict never reached %s; output:\n%s", c.name, r.output.Tail(4000))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !r.fn.Kill() {
				t.Fatal("no instance to kill")
			}
			<-fired
			c.faults(r.cloud).Reset()
			// The task's message comes back once its visibility ends, and
			// is settled once the dead instance's lease expires; sweep until
			// it is gone, then a few more times for a repeat to show itself.
			for extra := 3; extra > 0 && ctx.Err() == nil; {
				_, _ = r.timer.Fire(ctx)
				r.cloud.MNS.Advance(time.Minute)
				if r.queued() == 0 {
					extra--
				}
				time.Sleep(200 * time.Millisecond)
			}
			if s, d := r.posts(id); s != 1 || d != 1 {
				t.Errorf("posted %d times to Slack and %d to DingTalk, want once each; output:\n%s", s, d, r.output.Tail(6000))
			}
			if !strings.Contains(r.output.String(), c.settled) {
				t.Errorf("the killed send was not settled (no %s in the log)", c.settled)
			}
			if n := r.queued(); n != 0 {
				t.Errorf("%d messages left on the pending queue", n)
			}
			if st := r.fn.Stats(); st.Kills == 0 {
				t.Errorf("the instance was not killed: %+v", st)
			}
		})
	}
}

// Several unreadable bodies in one EventBridge batch among good tasks: each
// goes to the dead-letter queue verbatim, the good tasks are posted once,
// and the invocation succeeds, so EventBridge never retries the batch.
func TestPoisonMessagesAmongGoodOnes(t *testing.T) {
	r := newChaosRig(t, 3, localcloud.Options{}, 0)
	r.seedRandom(3, 0)
	poison := []string{
		`{"taskId": 42`,
		`not json at all`,
		`{"uniRegionId":"cn-hangzhou"}`,
		`[1,2,3]`,
		`{"taskId":"","uniRegionId":"cn-hangzhou"}`,
	}
	for _, body := range poison {
		if _, err := r.cloud.MNS.Send(localcloud.PendingQueue, body, 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	stream, err := eventbridge.NewStream(r.fn, eventbridge.StreamConfig{
		Queue: r.cloud.MNS, QueueName: localcloud.PendingQueue, FunctionName: "precheckwatch",
		BatchSize: 10, BatchWindow: 300 * time.Millisecond, RetryScale: 0.02,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = stream.Run(ctx) }()
	r.waitPosted(30*time.Second, func() { r.cloud.MNS.Advance(time.Second) }, r.ids...)
	time.Sleep(300 * time.Millisecond)
	for _, id := range r.ids {
		if s, d := r.posts(id); s != 1 || d != 1 {
			t.Errorf("%s posted %d/%d times, want once each", id, s, d)
		}
	}
	got := r.cloud.MNS.Bodies(localcloud.DeadLetterQueue)
	slices.Sort(got)
	want := slices.Clone(poison)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("dead-letter queue holds %d bodies %.200q, want the %d unreadable ones verbatim", len(got), got, len(want))
	}
	cancel()
	if st := stream.Stats(); st.Retries != 0 || st.DeadLettered != 0 || st.Discarded != 0 || st.Left != 0 {
		t.Errorf("the batch with poison failed an invocation: %+v", st)
	}
	var deadLettered int
	for _, line := range strings.Split(r.output.String(), "\n") {
		var rep struct {
			Msg          string `json:"msg"`
			DeadLettered int    `json:"deadLettered"`
		}
		if json.Unmarshal([]byte(line), &rep) == nil && rep.Msg == "invocation done" {
			deadLettered += rep.DeadLettered
		}
	}
	if deadLettered != len(poison) {
		t.Errorf("reports count %d dead letters, want %d", deadLettered, len(poison))
	}
}
