package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/function"
	"precheckwatch/handler"
	"precheckwatch/internal/redistest"
	"precheckwatch/internal/waitfor"
	"precheckwatch/ledger"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/mns"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/feishu"
	"precheckwatch/precheck"
)

// The delivery record's promises at FC scale, one case each: real queue
// visibility, bodies anyone may write, Redis slow, restarted empty or lost
// in the middle of a digest's binding, and verdicts far bigger than a
// queue message.

// enqueue puts body on the pending queue.
func (b *faultBench) enqueue(body string) {
	b.t.Helper()
	if _, err := b.cloud.MNS.Send(localcloud.PendingQueue, body, 0); err != nil {
		b.t.Fatal(err)
	}
}

// addFinished registers n tasks that Security Center reports finished at
// the first query, with result, and enqueues them.
func (b *faultBench) addFinished(n int, result string) {
	b.t.Helper()
	for i := range n {
		b.seed(fmt.Sprintf("t-%s-%03d", strings.NewReplacer("/", "-", " ", "-").Replace(b.t.Name()), i), securitycenter.Task{Polls: []int{100}, Result: result})
	}
}

// A queue with a visibility timeout far shorter than the sweep (MNS's 30 s
// against a 120 s function, here 2 s against about 5 s): every message the
// sweep received stays its own until handed on, so each finished task's
// message is deleted, none is left on the queue, and each verdict posts
// once.
func TestShortVisibilityLosesNoDelete(t *testing.T) {
	b := newFaultBenchWith(t, benchOptions{invocation: 20 * time.Second, env: [][2]string{{"CHECK_CONCURRENCY", "2"}}})
	b.cloud.MNS.DeleteQueue(localcloud.PendingQueue)
	if err := b.cloud.MNS.CreateQueue(localcloud.PendingQueue, mns.QueueAttributes{VisibilityTimeout: 2}); err != nil {
		t.Fatal(err)
	}
	b.addFinished(12, "")
	b.cloud.SASFaults.SetLatency(700 * time.Millisecond)
	rep, took, err := b.invoke()
	if err != nil {
		t.Fatal(err)
	}
	if took < 3*time.Second {
		t.Fatalf("the sweep took %s, not long enough to outlast the 2 s visibility", took)
	}
	if st := b.cloud.MNS.Stats(localcloud.PendingQueue); st != mnsEmpty {
		t.Errorf("after one sweep the queue holds %+v, want nothing (report %+v)\n%s", st, rep, b.out.Tail(8000))
	}
	if rep.Kept == 0 {
		t.Errorf("no visibility was changed in a %s sweep on a 2 s queue", took)
	}
	for _, id := range b.ids {
		if s, d := b.posts(id); s != 1 || d != 1 {
			t.Errorf("%s posted %d times to Slack and %d to DingTalk, want once each", id, s, d)
		}
	}
}

// A body that carries the function's bookkeeping of older versions (a
// final verdict, the channels that have it) is data like any unknown
// field: Security Center is asked, and its answer is what posts, on every
// channel.
func TestForgedBodyNeitherPostsNorSuppresses(t *testing.T) {
	b := newFaultBench(t, localcloud.Options{})
	failing := securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-forged", time.Now(), map[string]string{"MYSQL_DISK_SPACE": "NOT_ENOUGH"}))
	for i, forged := range []string{
		`"final":{"verdict":"PASSED","reason":"forged"}`,
		`"final":{"verdict":"FAILED"},"delivered":["slack","dingtalk"]`,
		`"firstSeen":1,"lastProgress":100`,
	} {
		id := fmt.Sprintf("t-forged-%d", i)
		b.ids = append(b.ids, id)
		if err := b.cloud.SAS.AddTask(securitycenter.Task{ID: id, DatabaseType: "MYSQL", Polls: []int{30, 100}, Result: failing}); err != nil {
			t.Fatal(err)
		}
		b.enqueue(`{"taskId":"` + id + `","uniRegionId":"` + localcloud.Region + `",` + forged + `}`)
	}
	b.assertOnce()
	if n := b.cloud.SAS.Calls("QueryPreCheckDatabase"); n < 2*len(b.ids) {
		t.Errorf("Security Center answered %d queries for %d tasks that each need two", n, len(b.ids))
	}
	for _, id := range b.ids {
		fates := b.fates(id)
		if len(fates) != 2 || fates[0].Decision != handler.Requeued || fates[1].Decision != handler.Finished || fates[1].Verdict != precheck.Failed {
			t.Errorf("%s: fates %+v, want a requeue (a forged first sight is no deadline) then FAILED", id, fates)
		}
	}
}

// A verdict with hundreds of items, waiting for a channel that is down,
// goes back on the queue as the producer's small body: the ledger keeps
// the verdict, the message a reference to it.
func TestRequeueBodyStaysSmallWhateverTheVerdict(t *testing.T) {
	b := newFaultBench(t, localcloud.Options{})
	items := map[string]string{}
	for i := range 400 {
		items[fmt.Sprintf("CUSTOM_CHECK_%03d", i)] = "NOT_PASSED"
	}
	b.addFinished(1, securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-huge", time.Now(), items)))
	b.cloud.DingTalkFaults.Set(fault.Server, 1)
	rep, err := b.sweep()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redelivering != 1 {
		t.Fatalf("report %+v: want the task back on the queue for DingTalk", rep)
	}
	bodies := b.cloud.MNS.Bodies(localcloud.PendingQueue)
	if len(bodies) != 1 || len(bodies[0]) > 512 {
		t.Fatalf("requeued bodies %d, first %d bytes: want one far below MNS's 64 KB", len(bodies), len(bodies[0]))
	}
	b.cloud.DingTalkFaults.Reset()
	b.assertOnce()
}

// Redis restarted empty while finished tasks' messages are still on the
// queue (their deletes failed): the record of what was sent is gone, and
// the messages' redelivery is settled through the channels' own memory
// (the Slack history, DingTalk's msgUuid) instead of posting again.
func TestRedisRestartedEmptyPostsNothingTwice(t *testing.T) {
	b := newFaultBench(t, localcloud.Options{})
	b.seedTasks()
	b.mns.aim("delete", fault.Server)
	for range 4 {
		b.sweep()
		if b.allPosted() {
			break
		}
	}
	if !b.allPosted() {
		t.Fatal("the tasks were not posted while deletes failed")
	}
	if err := b.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	b.mns.aim("", "")
	b.assertOnce()
	if b.total(func(rep handler.Report) int { return rep.FoundInHistory["slack"] }) == 0 {
		t.Error("no Slack verdict was settled from the channel's history after the restart")
	}
}

// Redis at 150 ms each way: every invocation ends by its deadline, the
// record's calls included, and every task is posted once.
func TestSlowRedisKeepsEveryDeadline(t *testing.T) {
	b := newFaultBenchWith(t, benchOptions{proxied: true, redisLatency: 300 * time.Millisecond})
	b.seedTasks()
	b.addFinished(12, "")
	for range 8 {
		_, took, err := b.invoke()
		b.cloud.MNS.Advance(2 * time.Minute)
		if took > b.invocation {
			t.Errorf("sweep %d took %s, past its %s deadline (err %v)", b.runs, took.Round(time.Millisecond), b.invocation, err)
		}
		if b.allPosted() && b.cloud.MNS.Stats(localcloud.PendingQueue) == mnsEmpty {
			break
		}
	}
	b.assertOnce()
}

// Redis lost at any point of a digest's delivery (after n round trips,
// for several n): a digest is bound whole or not at all, so nothing that
// went out is sent again in another message. Leases the cut sweep could
// not release keep the later sweeps off their verdicts until they lapse.
func TestRedisLostMidDigestPostsNothingTwice(t *testing.T) {
	for _, n := range []int{4, 9, 10, 11, 12, 14, 16, 20} {
		t.Run(fmt.Sprintf("after %d round trips", n), func(t *testing.T) {
			t.Parallel()
			b := newFaultBenchWith(t, benchOptions{proxied: true})
			b.addFinished(8, "")
			b.proxy.CutAfter(n)
			b.sweep()
			b.proxy.Heal()
			awaitLeasesLapsed(t, b.redis.URL, b.invocation+10*time.Second)
			b.assertOnce()
		})
	}
}

// A task id Security Center does not know ends as ERROR once
// UNKNOWN_TASK_GRACE has passed, not TASK_DEADLINE.
func TestUnknownTaskEndsAsErrorAfterTheGrace(t *testing.T) {
	b := newFaultBenchWith(t, benchOptions{env: [][2]string{{"UNKNOWN_TASK_GRACE", "1ms"}}})
	id := "t-nobody-knows"
	b.ids = append(b.ids, id)
	b.enqueue(`{"taskId":"` + id + `","uniRegionId":"` + localcloud.Region + `"}`)
	b.assertOnce()
	fates := b.fates(id)
	if len(fates) == 0 || fates[len(fates)-1].Verdict != precheck.Error {
		t.Fatalf("fates %+v, want ERROR at last", fates)
	}
	for _, m := range b.cloud.Slack.Messages() {
		if strings.Contains(m.PlainText(), id) && !strings.Contains(m.PlainText(), "knows no such task") {
			t.Errorf("the verdict does not say Security Center knows no such task:\n%s", m.PlainText())
		}
	}
}

// The shipped deployment keeps the promise: with its default memory://
// record, private to one instance, s.yaml lets FC run one instance only.
func TestMemoryRecordIsPinnedToOneInstance(t *testing.T) {
	props := yamlMap(t, yamlMap(t, yamlMap(t, loadSYAML(t), "resources"), "precheckwatch"), "props")
	if url := deployedConfig(t).DedupeURL.Reveal(); url != "memory://" {
		t.Skipf("s.yaml deploys DEDUPE_URL %s by default, not memory://", url)
	}
	pinned, ok := yamlAt(props, "concurrencyConfig.reservedConcurrency").(int)
	if !ok || pinned != 1 {
		t.Fatalf("concurrencyConfig.reservedConcurrency is %v; with memory:// two instances could each post one verdict, so pin it to 1",
			yamlAt(props, "concurrencyConfig.reservedConcurrency"))
	}
}

// Two instances on one queue and one Redis, sweeping at once, while the
// queue's visibility expires under them (the queue clock jumps past it
// mid-sweep, so each sees the other's messages): each task is posted once.
func TestTwoInstancesOnOneQueuePostOnce(t *testing.T) {
	b := newFaultBenchWith(t, benchOptions{env: [][2]string{{"CHECK_CONCURRENCY", "2"}}})
	other, _ := b.instance()
	b.seedTasks()
	b.addFinished(10, "")
	b.cloud.SASFaults.SetLatency(100 * time.Millisecond)
	sweep := func(h *handler.Handler, n int) {
		ctx, cancel := context.WithTimeout(context.Background(), b.invocation)
		defer cancel()
		_, _ = h.Handle(ctx, handler.Invocation{RequestID: fmt.Sprintf("twin-%d", n)},
			[]byte(`{"triggerTime":"2026-11-27T00:00:00Z","triggerName":"sweep","payload":""}`))
	}
	for round := range 6 {
		var wg sync.WaitGroup
		for i, h := range []*handler.Handler{b.h, other} {
			wg.Go(func() { sweep(h, 2*round+i) })
		}
		// Mid-sweep, once the sweeps hold messages, every message's
		// visibility ends at once.
		waitfor.Condition(b.invocation, func() bool { return b.cloud.MNS.Stats(localcloud.PendingQueue).Inactive > 0 })
		b.cloud.MNS.Advance(10 * time.Minute)
		wg.Wait()
		b.cloud.MNS.Advance(2 * time.Minute)
		if b.allPosted() && b.cloud.MNS.Stats(localcloud.PendingQueue) == mnsEmpty {
			break
		}
	}
	b.assertOnce()
}

// awaitLeasesLapsed waits up to timeout until the record at redisURL holds
// no lease: those of an invocation cut off from Redis, or killed, before it
// could release them lapse by themselves, at its deadline plus the lease
// margin.
func awaitLeasesLapsed(t *testing.T, redisURL string, timeout time.Duration) {
	t.Helper()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var keys []string
	lapsed := waitfor.Condition(timeout, func() bool {
		keys, err = client.Keys(ctx, "precheckwatch:*:lease:*").Result()
		return err == nil && len(keys) == 0
	})
	if !lapsed {
		t.Fatalf("leases still held after %s: %v (%v)", timeout, keys, err)
	}
}

// Deletes that fail leave each requeued task's original beside its
// successor; once they succeed again the stale originals go without another
// check or requeue, so copies do not multiply, and each task posts once.
func TestStaleCopiesGo(t *testing.T) {
	b := newFaultBench(t, localcloud.Options{})
	b.seedTasks()
	b.mns.aim("delete", fault.Server)
	b.sweep()
	b.mns.aim("", "")
	stale := 0
	for range 4 {
		rep, _ := b.sweep()
		stale += rep.Stale
	}
	if stale == 0 {
		t.Error("no stale copy was dropped after the failed deletes")
	}
	b.assertOnce()
}

// cutAfterSend is the delivery record with Redis lost in the middle of
// the first write after a send on one channel, and back once that write has
// failed: the moment a slow or restarting Redis costs a verdict its record.
type cutAfterSend struct {
	ledger.Ledger
	proxy   *redistest.Proxy
	channel string
	cuts    atomic.Int32
}

// MarkSent implements ledger.Ledger.
func (c *cutAfterSend) MarkSent(ctx context.Context, leases []ledger.Lease, ref string) error {
	if len(leases) == 0 || leases[0].Key.Channel != c.channel || !c.cuts.CompareAndSwap(0, 1) {
		return c.Ledger.MarkSent(ctx, leases, ref)
	}
	c.proxy.CutAfter(0)
	defer c.proxy.Heal()
	return c.Ledger.MarkSent(ctx, leases, ref)
}

// A digest that went out on Feishu's custom bot, whose record of the send
// fails once, of tasks still owed to another channel: the record is written all the same while the invocation has
// time, so the verdicts, which that bot can neither find nor repeat, are not
// posted again in another message once their leases lapse.
func TestRecordFailedAfterASendPostsNothingTwice(t *testing.T) {
	b := newFaultBenchWith(t, benchOptions{proxied: true, env: [][2]string{{"DIGEST_THRESHOLD", "1"}}})
	b.addFinished(3, "")
	f, err := function.New(b.cfg, b.out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	bot, err := feishu.New(feishu.Config{WebhookURL: b.cfg.FeishuWebhookURL, Secret: b.cfg.FeishuSecret})
	if err != nil {
		t.Fatal(err)
	}
	robot, err := dingtalk.New(dingtalk.Config{WebhookURL: b.cfg.DingTalkWebhookURL, Secret: b.cfg.DingTalkSecret})
	if err != nil {
		t.Fatal(err)
	}
	record := &cutAfterSend{Ledger: f.Ledger, proxy: b.proxy, channel: bot.Name()}
	b.h = handler.New(function.Settings(b.cfg), handler.Deps{Checker: f.Checker, Queues: f.Queues, Sinks: []notify.Sink{bot, robot}, Ledger: record, Log: f.Log})
	// DingTalk down for the first sweep: the tasks stay on the queue for
	// it, and a later sweep meets their Feishu verdicts again.
	b.cloud.DingTalkFaults.SetShares(map[fault.Kind]float64{fault.Server: 1})
	b.sweep()
	b.cloud.DingTalkFaults.Reset()
	if record.cuts.Load() == 0 {
		t.Fatal("no send on Feishu was recorded; the test proves nothing")
	}
	awaitLeasesLapsed(t, b.redis.URL, b.invocation+10*time.Second)
	onDingTalk := func() bool {
		for _, id := range b.ids {
			if _, n := b.posts(id); n == 0 {
				return false
			}
		}
		return true
	}
	for range 3 {
		if b.sweep(); onDingTalk() {
			break
		}
	}
	if !onDingTalk() {
		t.Fatal("the tasks were not posted on DingTalk once it was back")
	}
	posts := map[string]int{}
	for _, m := range b.cloud.Feishu.Messages() {
		for _, id := range b.ids {
			if strings.Contains(m.PlainText(), id) {
				posts[id]++
			}
		}
	}
	for _, id := range b.ids {
		if posts[id] != 1 {
			t.Errorf("%s: posted %d times on Feishu, want once", id, posts[id])
		}
	}
}

// Two copies of every task's message in one sweep (a requeued copy beside
// an original whose delete failed), while DingTalk is down and Slack posts
// digest pages as the checks go on: a copy is handed on only once both
// channels have had their say, so none is taken for delivered everywhere
// while DingTalk lacks it, and once DingTalk is back every task is posted
// there once.
func TestCopiesOfATaskWaitForEveryChannel(t *testing.T) {
	b := newFaultBench(t, localcloud.Options{})
	// Verdicts of many failing items, so that a digest page holds few.
	items := map[string]string{}
	for i := range 12 {
		items[fmt.Sprintf("MYSQL_CHECK_%02d", i)] = "NOT_ENOUGH"
	}
	failing := securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-f", time.Now().Add(-time.Minute), items))
	for i := range 40 {
		id := fmt.Sprintf("copied-%03d", i)
		b.ids = append(b.ids, id)
		if err := b.cloud.SAS.AddTask(securitycenter.Task{ID: id, DatabaseType: "MYSQL", Polls: []int{100}, Result: failing}); err != nil {
			t.Fatal(err)
		}
		body, err := precheck.Task{TaskID: id, UniRegionID: localcloud.Region, DatabaseType: "MYSQL"}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b.enqueue(string(body))
		b.enqueue(string(body))
	}
	// Checks slow enough that Slack's courier sends its full pages while
	// they still run, with both copies of a task waiting on them.
	b.cloud.SASFaults.SetLatency(50 * time.Millisecond)
	b.cloud.DingTalkFaults.Set(fault.Server, 1)
	b.sweep()
	b.cloud.DingTalkFaults.Reset()
	b.cloud.SASFaults.SetLatency(0)
	if b.total(func(r handler.Report) int { return r.Notified["slack"] }) < 2 {
		t.Fatal("Slack posted fewer than two digest pages; the test proves nothing")
	}
	for _, id := range b.ids {
		for _, f := range b.fates(id) {
			if f.Verdict != "" && !slices.Contains(f.Missing, "dingtalk") {
				t.Errorf("%s: a copy was handed on as delivered everywhere while DingTalk was down: %+v", id, f)
			}
		}
	}
	b.assertOnce()
}

// A backlog far larger than a sweep may hold: the sweep stops receiving
// while it holds its bound and goes on as verdicts are handed on, so it
// never holds more, and every task is still posted once with nothing left
// on the queue.
func TestSweepHoldsNoMoreThanItsBound(t *testing.T) {
	const holdMax = 48
	b := newFaultBenchWith(t, benchOptions{holdMax: holdMax, invocation: 20 * time.Second})
	b.addFinished(300, "")
	b.assertOnce()
	if got := b.reports[0].Received; got <= holdMax {
		t.Errorf("the first sweep received %d messages, no more than it may hold: the bound was never reached", got)
	}
	for i, rep := range b.reports {
		if rep.PeakHeld > holdMax {
			t.Errorf("sweep %d held %d messages at once, more than its bound of %d", i+1, rep.PeakHeld, holdMax)
		}
	}
}

// A sweep that comes round to the tasks it requeued itself stops there:
// with a backoff shorter than the sweep, it would otherwise check the same
// running tasks again and again until its deadline.
func TestSweepStopsWhenItLaps(t *testing.T) {
	const tasks = 100
	b := newFaultBenchWith(t, benchOptions{holdMax: 16, invocation: 20 * time.Second,
		env: [][2]string{{"BACKOFF_INITIAL", "200ms"}, {"BACKOFF_MAX", "400ms"}, {"CHECK_CONCURRENCY", "4"}}})
	for i := range tasks {
		b.seed(fmt.Sprintf("lap-%03d", i), securitycenter.Task{Duration: time.Hour})
	}
	// 25 rounds of checks at 50 ms: the first requeued copies are back on
	// the queue long before the sweep has taken every original.
	b.cloud.SASFaults.SetLatency(50 * time.Millisecond)
	if _, _, err := b.invoke(); err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, id := range b.ids {
		switch n := len(b.fates(id)); {
		case n > 2:
			t.Errorf("%s was checked %d times in one sweep: the sweep went round again after meeting its own requeue", id, n)
		case n == 2:
			again++
		}
	}
	if again == 0 {
		t.Error("the sweep met none of the tasks it had requeued: the test proves nothing about lapping")
	}
}

// failMemberships is the delivery record failing its first read of the
// fleet runs' members, as a Redis spell makes it.
type failMemberships struct {
	ledger.Ledger
	failed atomic.Bool
}

// Memberships implements ledger.Ledger.
func (f *failMemberships) Memberships(ctx context.Context, taskIDs []string) (map[string]ledger.Membership, error) {
	if f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("redis: i/o timeout")
	}
	return f.Ledger.Memberships(ctx, taskIDs)
}

// With NOTIFY_MODE=changes, whether a fleet task's verdict is posted
// depends on its database's previous verdict, which the run's tally tells:
// while the tally cannot be read the tasks are held, not posted, so the new
// databases that passed are in the run's summary only.
func TestFleetTasksWaitForTheirRunsTally(t *testing.T) {
	spell := &failMemberships{}
	b := newFaultBenchWith(t, benchOptions{env: [][2]string{{"NOTIFY_MODE", "changes"}},
		record: func(l ledger.Ledger) ledger.Ledger { spell.Ledger = l; return spell }})
	ctx := context.Background()
	record, err := ledger.Open(b.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { record.Close() })
	plan := ledger.Run{ID: "fleet-run-1", Fleet: "regions cn-hangzhou; types MYSQL"}
	for i := range 6 {
		plan.Members = append(plan.Members, ledger.Member{Database: fmt.Sprintf("cn-hangzhou/agent-%d/MYSQL", i), Name: fmt.Sprintf("db-%02d", i),
			DatabaseType: "MYSQL", UniRegionID: localcloud.Region, InstanceUUID: fmt.Sprintf("agent-%d", i)})
	}
	if _, err := record.PlanRun(ctx, plan); err != nil {
		t.Fatal(err)
	}
	for i, m := range plan.Members {
		c, err := record.ClaimStart(ctx, plan.ID, m.Database, time.Minute)
		if err != nil || c.State != ledger.StartClaimed {
			t.Fatalf("start of %s: %+v, %v", m.Database, c, err)
		}
		task := precheck.Task{TaskID: fmt.Sprintf("t-fleet-%02d", i), UniRegionID: m.UniRegionID, InstanceUUID: m.InstanceUUID,
			DatabaseType: m.DatabaseType, Label: m.Name, Run: plan.ID}
		if err := record.NoteStarted(ctx, c.Lease, task.TaskID); err != nil {
			t.Fatal(err)
		}
		b.ids = append(b.ids, task.TaskID)
		if err := rig.Seed(b.cloud, task, securitycenter.Task{Polls: []int{100}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if b.sweep(); b.cloud.MNS.Stats(localcloud.PendingQueue) == mnsEmpty {
			break
		}
	}
	if !spell.failed.Load() {
		t.Fatal("the tally was never read; the test proves nothing")
	}
	if st := b.cloud.MNS.Stats(localcloud.PendingQueue); st != mnsEmpty {
		t.Errorf("pending queue not empty: %+v", st)
	}
	for _, id := range b.ids {
		for channel, n := range rig.Posts(b.cloud, id) {
			if n > 0 {
				t.Errorf("%s, new and PASSED, was posted on its own on %s (%d)", id, channel, n)
			}
		}
	}
}
