package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/config"
	"precheckwatch/function"
	"precheckwatch/handler"
	"precheckwatch/internal/redistest"
	"precheckwatch/ledger"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/mns"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/pace"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
)

// faultBench runs the function's handler in the test process, wired to the
// local cloud with the real clients and a real Redis, so that one kind of
// fault can be aimed at one service, or at one MNS operation.
type faultBench struct {
	t     *testing.T
	cloud *localcloud.Cloud
	redis *redistest.Server
	// proxy stands between the function and Redis when benchOptions ask.
	proxy *redistest.Proxy
	cfg   config.Config
	h     *handler.Handler
	mns   *opFaults
	out   *fcruntime.Output
	ids   []string
	runs  int
	// reports are the sweeps' reports, oldest first.
	reports []handler.Report
	// invocation is each sweep's time.
	invocation time.Duration
	holdMax    int
	record     func(ledger.Ledger) ledger.Ledger
}

// benchInvocation is each invocation's time, long enough to check, deliver
// and hand on, short enough that a hang costs little.
const benchInvocation = 5 * time.Second

func newFaultBench(t *testing.T, opts localcloud.Options) *faultBench {
	return newFaultBenchWith(t, benchOptions{cloud: opts})
}

// benchOptions are what differs between fault benches.
type benchOptions struct {
	cloud localcloud.Options
	// proxied puts a redistest.Proxy with redisLatency per round trip
	// between the function and Redis.
	proxied      bool
	redisLatency time.Duration
	// env overrides the function's settings.
	env [][2]string
	// invocation is each sweep's time; benchInvocation when zero.
	invocation time.Duration
	// holdMax bounds the messages a sweep holds (handler.Settings.HoldMax).
	holdMax int
	// record, when set, stands between the function and its delivery
	// record.
	record func(ledger.Ledger) ledger.Ledger
}

func newFaultBenchWith(t *testing.T, o benchOptions) *faultBench {
	t.Helper()
	redis := redistest.Run(t)
	cloud, err := localcloud.Start(o.cloud)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)
	recordURL := redis.URL
	var proxy *redistest.Proxy
	if o.proxied {
		if proxy, err = redistest.NewProxy(redis.Addr, o.redisLatency); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		recordURL = proxy.URL
	}
	env := map[string]string{}
	for _, kv := range append(append(cloud.Env(), [][2]string{
		{"DEDUPE_URL", recordURL}, {"BACKOFF_INITIAL", "1s"}, {"BACKOFF_MAX", "2s"}, {"TASK_DEADLINE", "1h"},
		{"LOG_LEVEL", "debug"}, {"DIGEST_THRESHOLD", "5"},
	}...), o.env...) {
		env[kv[0]] = kv[1]
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	b := &faultBench{t: t, cloud: cloud, redis: redis, proxy: proxy, out: &fcruntime.Output{}, cfg: cfg,
		invocation: cmp.Or(o.invocation, benchInvocation), holdMax: o.holdMax, record: o.record}
	b.h, b.mns = b.instance()
	return b
}

// instance wires another function instance to the bench's cloud and
// record, with its own connections, memory and pace, as FC starts one.
func (b *faultBench) instance() (*handler.Handler, *opFaults) {
	t, cfg := b.t, b.cfg
	f, err := function.New(cfg, b.out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	// The real sinks, Slack paced faster than production so that a test
	// needs no second per message; the emulated robot still refuses more
	// than 20 a minute.
	fast, err := pace.NewLocal(pace.Limit{N: 5, Per: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	slackSink, err := slack.NewBot(slack.BotConfig{Token: cfg.SlackBotToken, Channel: cfg.SlackChannel, APIURL: cfg.SlackAPIURL, Pacer: fast})
	if err != nil {
		t.Fatal(err)
	}
	dingSink, err := dingtalk.New(dingtalk.Config{WebhookURL: cfg.DingTalkWebhookURL, Secret: cfg.DingTalkSecret})
	if err != nil {
		t.Fatal(err)
	}
	mns := &opFaults{inner: f.Queues, faults: b.cloud.MNSFaults}
	settings := function.Settings(cfg)
	settings.HoldMax = b.holdMax
	var record ledger.Ledger = f.Ledger
	if b.record != nil {
		record = b.record(record)
	}
	return handler.New(settings, handler.Deps{Checker: f.Checker, Queues: mns, Sinks: []notify.Sink{slackSink, dingSink}, Ledger: record, Log: f.Log}), mns
}

// seedTasks enqueues a task that passes at once, one that fails after a
// requeue, and one whose precheck errs after a requeue.
func (b *faultBench) seedTasks() {
	b.t.Helper()
	at := time.Now().Add(-time.Minute)
	for i, script := range []securitycenter.Task{
		{Polls: []int{100}},
		{Polls: []int{40, 100}, Result: securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-f", at, map[string]string{"MYSQL_DISK_SPACE": "NOT_ENOUGH"}))},
		{Polls: []int{10, 100}, Description: securitycenter.DescriptionError},
	} {
		b.seed(fmt.Sprintf("fault-%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(b.t.Name()), i), script)
	}
}

// seed registers script as the precheck of a MYSQL task id and enqueues
// the task.
func (b *faultBench) seed(id string, script securitycenter.Task) {
	b.t.Helper()
	b.ids = append(b.ids, id)
	if err := rig.Seed(b.cloud, precheck.Task{TaskID: id, UniRegionID: localcloud.Region, DatabaseType: "MYSQL"}, script); err != nil {
		b.t.Fatal(err)
	}
}

// sweep runs one timer invocation, then lets the queue's delays and
// visibility timeouts pass.
func (b *faultBench) sweep() (handler.Report, error) {
	rep, _, err := b.invoke()
	b.cloud.MNS.Advance(2 * time.Minute)
	return rep, err
}

// invoke runs one timer invocation and says how long it took.
func (b *faultBench) invoke() (handler.Report, time.Duration, error) {
	b.runs++
	ctx, cancel := context.WithTimeout(context.Background(), b.invocation)
	defer cancel()
	start := time.Now()
	rep, err := b.h.Handle(ctx, handler.Invocation{RequestID: fmt.Sprintf("sweep-%d", b.runs)},
		[]byte(`{"triggerTime":"2026-11-27T00:00:00Z","triggerName":"sweep","payload":""}`))
	b.reports = append(b.reports, rep)
	return rep, time.Since(start), err
}

// fates are what became of id's messages, sweep by sweep.
func (b *faultBench) fates(id string) []handler.TaskFate { return rig.Fates(b.reports, id) }

// total sums count over the sweeps' reports.
func (b *faultBench) total(count func(handler.Report) int) int {
	n := 0
	for _, rep := range b.reports {
		n += count(rep)
	}
	return n
}

// posts counts the messages naming id on the bench's two channels.
func (b *faultBench) posts(id string) (slackN, dingN int) {
	p := rig.Posts(b.cloud, id)
	return p["slack"], p["dingtalk"]
}

// queued counts the pending queue's messages about id.
func (b *faultBench) queued(id string) int {
	n := 0
	for _, body := range b.cloud.MNS.Bodies(localcloud.PendingQueue) {
		if strings.Contains(body, `"`+id+`"`) {
			n++
		}
	}
	return n
}

// assertHeld checks SPEC §8 while a fault lasts: no task is posted twice,
// and a task without its verdict on both channels is still queued.
func (b *faultBench) assertHeld() {
	b.t.Helper()
	for _, id := range b.ids {
		s, d := b.posts(id)
		if s > 1 || d > 1 {
			b.t.Errorf("%s posted %d times to Slack and %d to DingTalk during the fault", id, s, d)
		}
		if (s == 0 || d == 0) && b.queued(id) == 0 {
			b.t.Errorf("%s lost: posted %d/%d and no longer queued", id, s, d)
		}
	}
}

// assertOnce sweeps until every task is posted once on both channels and
// the queue is empty, and fails on a duplicate.
func (b *faultBench) assertOnce() {
	b.t.Helper()
	for range 8 {
		if b.allPosted() && b.cloud.MNS.Stats(localcloud.PendingQueue) == mnsEmpty {
			break
		}
		b.sweep()
	}
	for _, id := range b.ids {
		if s, d := b.posts(id); s != 1 || d != 1 {
			b.t.Errorf("%s posted %d times to Slack and %d to DingTalk, want once each", id, s, d)
		}
	}
	if st := b.cloud.MNS.Stats(localcloud.PendingQueue); st != mnsEmpty {
		b.t.Errorf("pending queue not empty: %+v", st)
	}
	if b.t.Failed() {
		b.t.Logf("function log:\n%s", b.out.Tail(6000))
	}
}

var mnsEmpty = mns.QueueStats{}

func (b *faultBench) allPosted() bool {
	for _, id := range b.ids {
		if s, d := b.posts(id); s == 0 || d == 0 {
			return false
		}
	}
	return true
}

// opFaults aims the MNS emulator's faults at one queue operation: while
// that operation runs, every call fails with kind; other operations wait
// and run clean.
type opFaults struct {
	inner  handler.Queues
	faults *fault.Injector

	mu   sync.RWMutex
	op   string
	kind fault.Kind
}

func (o *opFaults) aim(op string, kind fault.Kind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.op, o.kind = op, kind
}

func (o *opFaults) Open(ctx context.Context, inv handler.Invocation, name string) (handler.Queue, error) {
	q, err := o.inner.Open(ctx, inv, name)
	if err != nil {
		return nil, err
	}
	return &opQueue{o: o, q: q}, nil
}

// around runs call with the fault on when op is the aimed operation.
func (o *opFaults) around(op string, call func()) {
	o.mu.RLock()
	aimed := o.op == op && o.kind != ""
	kind := o.kind
	o.mu.RUnlock()
	if !aimed {
		o.mu.RLock()
		defer o.mu.RUnlock()
		call()
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.faults.Set(kind, 1)
	defer o.faults.Set(kind, 0)
	call()
}

type opQueue struct {
	o *opFaults
	q handler.Queue
}

func (q *opQueue) Receive(ctx context.Context, max int) (msgs []handler.Message, err error) {
	q.o.around("receive", func() { msgs, err = q.q.Receive(ctx, max) })
	return msgs, err
}

func (q *opQueue) Send(ctx context.Context, msgs []handler.Outgoing) (errs []error) {
	q.o.around("send", func() { errs = q.q.Send(ctx, msgs) })
	return errs
}

func (q *opQueue) Delete(ctx context.Context, handles []string) (errs []error) {
	q.o.around("delete", func() { errs = q.q.Delete(ctx, handles) })
	return errs
}

func (q *opQueue) ChangeVisibility(ctx context.Context, handle string, d time.Duration) (next string, err error) {
	q.o.around("change visibility", func() { next, err = q.q.ChangeVisibility(ctx, handle, d) })
	return next, err
}

// Each fault kind on each service, alone: while it lasts no task is lost or
// posted twice; once it passes every task is posted exactly once per
// channel and the queue is empty.
func TestEachFaultKeepsDeliveryExactlyOnce(t *testing.T) {
	type bench = faultBench
	all := func(in func(*localcloud.Cloud) *fault.Injector, kind fault.Kind) (func(*bench), func(*bench)) {
		return func(b *bench) { in(b.cloud).Set(kind, 1) }, func(b *bench) { in(b.cloud).Reset() }
	}
	sas := func(c *localcloud.Cloud) *fault.Injector { return c.SASFaults }
	slack := func(c *localcloud.Cloud) *fault.Injector { return c.SlackFaults }
	ding := func(c *localcloud.Cloud) *fault.Injector { return c.DingTalkFaults }
	mnsOp := func(op string, kind fault.Kind) (func(*bench), func(*bench)) {
		return func(b *bench) { b.mns.aim(op, kind) }, func(b *bench) { b.mns.aim("", "") }
	}
	type faultCase struct {
		name        string
		opts        localcloud.Options
		on, off     func(*bench)
		injected    func(*bench) int
		faultSweeps int
		// settled counts, in a report, the lost answers the case must
		// settle.
		settled func(handler.Report) int
	}
	count := func(in func(*localcloud.Cloud) *fault.Injector) func(*bench) int {
		return func(b *bench) int {
			n := 0
			for _, v := range in(b.cloud).Counts() {
				n += v
			}
			return n
		}
	}
	mnsCount := count(func(c *localcloud.Cloud) *fault.Injector { return c.MNSFaults })
	var cases []faultCase
	for _, kind := range fault.Kinds {
		on, off := all(sas, kind)
		cases = append(cases, faultCase{name: "security center " + string(kind), on: on, off: off, injected: count(sas), faultSweeps: 2})
	}
	for _, op := range []string{"receive", "send", "delete"} {
		for _, kind := range fault.Kinds {
			on, off := mnsOp(op, kind)
			cases = append(cases, faultCase{name: "mns " + op + " " + string(kind), on: on, off: off, injected: mnsCount, faultSweeps: 2})
		}
	}
	for _, kind := range fault.Kinds {
		on, off := all(slack, kind)
		slackCase := faultCase{name: "slack " + string(kind), on: on, off: off, injected: count(slack), faultSweeps: 1,
			opts: localcloud.Options{SlackHangAfterPost: true}}
		on, off = all(ding, kind)
		dingCase := faultCase{name: "dingtalk " + string(kind), on: on, off: off, injected: count(ding), faultSweeps: 1,
			opts: localcloud.Options{DingTalkHangAfterDelivery: true}}
		if kind == fault.Hang {
			// The posts went out and their answers were lost: the Slack
			// verdict is found in the history, the DingTalk one repeated
			// under its msgUuid.
			slackCase.settled = func(rep handler.Report) int { return rep.FoundInHistory["slack"] }
			dingCase.settled = func(rep handler.Report) int { return rep.Repeated["dingtalk"] }
		}
		cases = append(cases, slackCase, dingCase)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newFaultBench(t, c.opts)
			b.seedTasks()
			c.on(b)
			for range c.faultSweeps {
				b.sweep()
			}
			c.off(b)
			if c.injected(b) == 0 {
				t.Fatal("no fault was injected")
			}
			b.assertHeld()
			b.assertOnce()
			if c.settled != nil && b.total(c.settled) == 0 {
				t.Errorf("no report shows the lost answer settled: %+v", b.reports)
			}
		})
	}
}
