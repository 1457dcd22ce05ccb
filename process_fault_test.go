package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/rig"
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
	for _, l := range b.cloud.Inbox() {
		if rig.IsRecordAlert(l.Text) {
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
		channel string
		opts    localcloud.Options
		faults  func(*localcloud.Cloud) *fault.Injector
		// settled counts, in a report, the channel's lost answers settled
		// its way.
		settled func(handler.Report) int
	}{
		{"slack", localcloud.Options{SlackHangAfterPost: true}, func(c *localcloud.Cloud) *fault.Injector { return c.SlackFaults },
			func(rep handler.Report) int { return rep.FoundInHistory["slack"] }},
		{"dingtalk", localcloud.Options{DingTalkHangAfterDelivery: true}, func(c *localcloud.Cloud) *fault.Injector { return c.DingTalkFaults },
			func(rep handler.Report) int { return rep.Repeated["dingtalk"] }},
	} {
		t.Run(c.channel, func(t *testing.T) {
			t.Parallel()
			r := newChaosRig(t, 1, c.opts, 0)
			r.seedRandom(1, 0)
			id := r.ids[0]
			c.faults(r.Cloud).Set(fault.Hang, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			posted := func() bool { return r.Posts(id)[c.channel] > 0 }
			fired := make(chan struct{})
			go func() {
				defer close(fired)
				for !posted() && ctx.Err() == nil {
					_, _ = r.timer.Fire(ctx)
					r.Cloud.MNS.Advance(time.Minute)
				}
			}()
			r.until(40*time.Second, "the verdict on "+c.channel, posted, nil)
			if !r.Fn.Kill() {
				t.Fatal("no instance to kill")
			}
			<-fired
			c.faults(r.Cloud).Reset()
			// The task's message comes back once its visibility ends, and
			// is settled once the dead instance's lease has lapsed.
			awaitLeasesLapsed(t, r.redis.URL, 20*time.Second)
			settled := func() int {
				n := 0
				for _, rep := range r.Reports() {
					n += c.settled(rep)
				}
				return n
			}
			r.until(20*time.Second, "the killed send settled and the queue empty", func() bool { return settled() > 0 && r.Quiet() }, func() {
				_, _ = r.timer.Fire(ctx)
				r.Cloud.MNS.Advance(time.Minute)
			})
			if p := r.Posts(id); p["slack"] != 1 || p["dingtalk"] != 1 {
				t.Errorf("posted %v times, want once on Slack and DingTalk; output:\n%s", p, r.Output.Tail(6000))
			}
			if st := r.Fn.Stats(); st.Kills == 0 {
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
		if _, err := r.Cloud.MNS.Send(localcloud.PendingQueue, body, 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	stream, err := eventbridge.NewStream(r.Fn, eventbridge.StreamConfig{
		Queue: r.Cloud.MNS, QueueName: localcloud.PendingQueue, FunctionName: "precheckwatch",
		BatchSize: 10, BatchWindow: 300 * time.Millisecond, RetryScale: 0.02,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = stream.Run(ctx) }()
	r.waitPosted(30*time.Second, func() { r.Cloud.MNS.Advance(time.Second) }, r.ids...)
	r.waitQuiet(10*time.Second, func() { r.Cloud.MNS.Advance(time.Second) })
	for _, id := range r.ids {
		if p := r.Posts(id); p["slack"] != 1 || p["dingtalk"] != 1 {
			t.Errorf("%s posted %v times, want once on Slack and DingTalk", id, p)
		}
	}
	got := r.Cloud.MNS.Bodies(localcloud.DeadLetterQueue)
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
	var letters []handler.DeadLetter
	deadLettered := 0
	for _, rep := range r.Reports() {
		deadLettered += rep.DeadLettered
		letters = append(letters, rep.DeadLetters...)
	}
	if deadLettered != len(poison) || len(letters) != len(poison) {
		t.Errorf("reports count %d dead letters and list %d, want %d", deadLettered, len(letters), len(poison))
	}
	for _, l := range letters {
		if l.MessageID == "" || l.Reason == "" {
			t.Errorf("dead letter %+v lacks its message id or its reason", l)
		}
	}
}
