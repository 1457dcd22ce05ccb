package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"precheckwatch/internal/redistest"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// The long chaos run, at FC scale:
//
//	go test -c -o /tmp/chaos.test . && /tmp/chaos.test -test.run 'TestChaos$' -test.v -test.timeout 90m \
//	  -chaos.tasks=2000 -chaos.instances=4 -chaos.kills=25 -chaos.faultrate=0.2 -chaos.visibility=30 \
//	  -chaos.expiries=6 -chaos.redis=6 -chaos.large=0.05 -chaos.budget=30m
//
// The defaults are the short run of the normal suite. CHAOS_LOG=path keeps
// the function's log; with -test.v the run logs its progress every 30 s.
var (
	chaosTasks      = flag.Int("chaos.tasks", 24, "tasks the chaos test runs through the local cloud")
	chaosInstances  = flag.Int("chaos.instances", 3, "most function instances running at once (reservedConcurrency)")
	chaosKills      = flag.Int("chaos.kills", 3, "SIGKILLs of function instances, busy ones first, at random moments")
	chaosFaultRate  = flag.Float64("chaos.faultrate", 0.2, "share of the calls to each service that fail (throttling, 5xx, hangs)")
	chaosSeed       = flag.Uint64("chaos.seed", 1, "seed of the chaos test's choices (task scripts, kill moments, faults)")
	chaosBudget     = flag.Duration("chaos.budget", 0, "how long the chaos test may take before it reports the tasks it lost (default scales with the tasks)")
	chaosVisibility = flag.Int("chaos.visibility", 30, "VisibilityTimeout of the queues in seconds (MNS's default is 30)")
	chaosExpiries   = flag.Int("chaos.expiries", 1, "jumps of the queue clock past the visibility timeout, so every message in flight comes back")
	chaosRedis      = flag.Int("chaos.redis", 3, "Redis spells, in turn: slow (150 ms each way), frozen, restarted from its append-only file")
	chaosLarge      = flag.Float64("chaos.large", 0.1, "share of tasks whose verdict has hundreds of items")
	chaosRetry      = flag.String("chaos.retry", "BACKOFF_RETRY", "the stream's PushRetryStrategy; BACKOFF_RETRY also sets s.yaml's dead-letter queue")
	// Feishu's app bot takes a uuid, so its lost answers are injected as
	// Slack's and DingTalk's are. Its custom bot has neither a message key
	// nor a history by which a send whose answer was lost, or whose record
	// could not be written before the deadline, can be settled: the
	// function sends it again and the verdict shows twice. So in webhook
	// mode no lost answer is injected, and a timeout after delivery the
	// machine's own load causes, a kill between a post and its record, or
	// a Redis spell that outlasts an invocation may still post twice.
	chaosFeishu = flag.String("chaos.feishu", "app", "how the function posts to Feishu: app (the app bot, exactly once) or webhook (the custom bot, at least once)")
)

// chaosPlan is one chaos run.
type chaosPlan struct {
	tasks, instances, kills int
	faultRate               float64
	seed                    uint64
	budget                  time.Duration
	visibility              int // seconds
	expiries, redisSpells   int
	large                   float64
	retry                   eventbridge.RetryStrategy
	feishuAppBot            bool
}

// TestChaos sends tasks of random running times through the local cloud,
// to several function instances on one queue, while every service fails its
// share of calls, instances are SIGKILLed, the queue's visibility timeouts
// expire under running invocations and the shared Redis record turns slow,
// freezes or restarts. It then checks SPEC §8 from the emulators' own
// records: every task seeded has exactly one verdict on each channel, and
// the queue is empty.
func TestChaos(t *testing.T) {
	p := chaosPlan{
		tasks: *chaosTasks, instances: *chaosInstances, kills: *chaosKills, faultRate: *chaosFaultRate,
		seed: *chaosSeed, budget: *chaosBudget, visibility: *chaosVisibility,
		expiries: *chaosExpiries, redisSpells: *chaosRedis, large: *chaosLarge,
	}
	p.feishuAppBot = feishuAppBot(t)
	switch *chaosRetry {
	case eventbridge.BackoffRetry.String():
		p.retry = eventbridge.BackoffRetry
	case eventbridge.ExponentialDecayRetry.String():
		p.retry = eventbridge.ExponentialDecayRetry
	default:
		t.Fatalf("-chaos.retry %q: want BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY", *chaosRetry)
	}
	if p.budget == 0 {
		p.budget = 2*time.Minute + time.Duration(p.tasks)*300*time.Millisecond
	}
	runChaos(t, p)
}

// feishuAppBot reports whether -chaos.feishu has the function post to
// Feishu through the app bot, the way it posts exactly once.
func feishuAppBot(t *testing.T) bool {
	switch *chaosFeishu {
	case "app":
		return true
	case "webhook":
		return false
	}
	t.Fatalf("-chaos.feishu %q: want app or webhook", *chaosFeishu)
	return false
}

// chaosRig is the local cloud, a real Redis behind a proxy as the shared
// delivery record, and the real binary under the emulated FC runtime.
type chaosRig struct {
	*testRig
	redis *redistest.Server
	proxy *redistest.Proxy
	rng   *rand.Rand
	ids   []string
}

// newChaosRig starts the rig; maxInstances 0 lets the function scale out
// as FC does. Redis keeps an append-only file, as the durable store the
// README asks for does, so a restart keeps the record.
func newChaosRig(t *testing.T, seed uint64, cloudOpts localcloud.Options, maxInstances int, overrides ...[2]string) *chaosRig {
	t.Helper()
	redis := redistest.RunWith(t, redistest.Options{Persistent: true})
	proxy, err := redistest.NewProxy(redis.Addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	env := append([][2]string{
		{"DEDUPE_URL", proxy.URL},
		{"BACKOFF_INITIAL", "200ms"}, {"BACKOFF_MAX", "1s"}, {"TASK_DEADLINE", "2h"}, {"LOG_LEVEL", "info"},
		{"SAS_RATE_LIMIT", "200"}, {"DIGEST_THRESHOLD", "1"},
	}, overrides...)
	r := startRig(t, rigConfig{cloud: cloudOpts, env: env, timeout: 10 * time.Second, timerPayload: `{"maxTasks":200}`, maxInstances: maxInstances})
	return &chaosRig{testRig: r, redis: redis, proxy: proxy, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// seedRandom enqueues n tasks whose prechecks take 1 to 6 queries and end
// passed, warned, failed or in error.
func (c *chaosRig) seedRandom(n int, maxDelay time.Duration) {
	c.seed(n, maxDelay, 0)
}

// largeInstances is how many instances a large verdict covers: with five
// items each, hundreds of items.
const largeInstances = 60

// seed enqueues n tasks like seedRandom, a share large of them failing on
// largeInstances instances at once.
func (c *chaosRig) seed(n int, maxDelay time.Duration, large float64) {
	c.t.Helper()
	at := time.Now().Add(-time.Minute)
	for i := range n {
		id := fmt.Sprintf("chaos-%05d", i)
		c.ids = append(c.ids, id)
		polls := []int{}
		for range c.rng.IntN(6) {
			polls = append(polls, c.rng.IntN(100))
		}
		sort.Ints(polls)
		script := securitycenter.Task{ID: id, DatabaseType: "MYSQL", Polls: append(polls, 100)}
		switch kind := c.rng.IntN(4); {
		case large > 0 && c.rng.Float64() < large:
			var instances []securitycenter.InstanceResult
			for k := range largeInstances {
				instances = append(instances, securitycenter.Check("MYSQL", fmt.Sprintf("i-%s-%02d", id, k), at,
					map[string]string{"MYSQL_DISK_SPACE": "NOT_ENOUGH"}))
			}
			script.Result = securitycenter.ResultJSON(instances...)
		case kind == 0:
			script.Result = securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-"+id, at, nil))
		case kind == 1:
			script.Result = securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-"+id, at, map[string]string{"MYSQL_BINLOG_FORMAT": "WARNING"}))
		case kind == 2:
			script.Result = securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-"+id, at, map[string]string{"MYSQL_DISK_SPACE": "NOT_ENOUGH"}))
		default:
			script.Description = securitycenter.DescriptionError
		}
		if err := c.Cloud.SAS.AddTask(script); err != nil {
			c.t.Fatal(err)
		}
		body, err := precheck.Task{TaskID: id, UniRegionID: localcloud.Region, DatabaseType: "MYSQL"}.Encode()
		if err != nil {
			c.t.Fatal(err)
		}
		delay := time.Duration(0)
		if maxDelay > 0 {
			delay = time.Duration(c.rng.Int64N(int64(maxDelay)))
		}
		if _, err := c.Cloud.MNS.Send(localcloud.PendingQueue, string(body), delay); err != nil {
			c.t.Fatal(err)
		}
	}
}

// chaosID matches the ids seed gives: fixed width, so no id is a prefix of
// another.
var chaosID = regexp.MustCompile(`chaos-\d{5}`)

// verdictCounts counts, per channel and task id, the messages the channel's
// emulator received that name the task.
func (c *chaosRig) verdictCounts() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, chat := range c.Cloud.Chats() {
		into := map[string]int{}
		for _, l := range chat.Letters() {
			if rig.IsRecordAlert(l.Text) {
				continue // an operator alert quoting a task is not its verdict
			}
			named := map[string]bool{}
			for _, id := range chaosID.FindAllString(l.Text, -1) {
				if !named[id] {
					named[id] = true
					into[id]++
				}
			}
		}
		out[chat.Name] = into
	}
	return out
}

// chatChannels are the channels every task's verdict must reach, in report
// order.
var chatChannels = []string{"slack", "dingtalk", "feishu"}

// tally compares what the channels received with the tasks seeded: lost
// lack a message on some channel, duplicated have more than one on some
// channel.
func (c *chaosRig) tally() (lost, duplicated []string) {
	counts := c.verdictCounts()
	for _, id := range c.ids {
		var per []string
		missing, twice := false, false
		for _, ch := range chatChannels {
			n := counts[ch][id]
			missing = missing || n == 0
			twice = twice || n > 1
			per = append(per, fmt.Sprintf("%s %d", ch, n))
		}
		desc := fmt.Sprintf("%s (%s)", id, strings.Join(per, ", "))
		switch {
		case missing:
			lost = append(lost, desc)
		case twice:
			duplicated = append(duplicated, desc)
		}
	}
	return lost, duplicated
}

func (c *chaosRig) queued() int {
	st := c.Cloud.MNS.Stats(localcloud.PendingQueue)
	return st.Active + st.Delayed + st.Inactive
}

// injectors are the local cloud's fault injectors by service.
func (c *chaosRig) injectors() map[string]*fault.Injector {
	return map[string]*fault.Injector{
		"sas": c.Cloud.SASFaults, "mns": c.Cloud.MNSFaults,
		"slack": c.Cloud.SlackFaults, "dingtalk": c.Cloud.DingTalkFaults, "feishu": c.Cloud.FeishuFaults,
	}
}

// chaosServices are the services the function calls, in report order.
var chaosServices = []string{"sas", "mns", "slack", "dingtalk", "feishu"}

// setFaults makes each service fail rate of its own calls, exactly, so a
// chat channel with few calls gets its share as Security Center does:
// throttling and 5xx answers share most of it, hangs (which cost a client
// timeout each) the rest.
func (c *chaosRig) setFaults(rate float64) {
	for _, in := range c.injectors() {
		if rate <= 0 {
			in.Reset()
			continue
		}
		in.SetShares(map[fault.Kind]float64{fault.Throttle: rate * 0.4, fault.Server: rate * 0.45, fault.Hang: rate * 0.15})
		in.SetLatency(5 * time.Millisecond)
	}
}

// chaosTimeScale is real time over the chaos run's time: its queue clock
// runs four times faster, and retry intervals shrink to match.
const chaosTimeScale = 0.25

// drive runs the platform around the function until done reports true or
// ctx ends: the EventBridge stream as s.yaml deploys it (with -chaos.retry
// BACKOFF_RETRY); an asynchronous timer sweep every two seconds; and a
// queue clock at four times real time, which backoff delays and visibility
// timeouts follow.
func (c *chaosRig) drive(ctx context.Context, p chaosPlan, done func() bool) bool {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: deferred calls run last first
	defer cancel()
	cfg := c.Cloud.DeployedStream()
	// Smaller batches and windows than s.yaml's, for a run of minutes:
	// still large, since DingTalk takes 20 messages a minute and tasks
	// must share them. A batch per instance may be in flight at once.
	cfg.BatchSize, cfg.BatchWindow, cfg.Concurrency = 50, time.Second, max(p.instances, 1)
	cfg.RetryStrategy, cfg.RetryScale = p.retry, chaosTimeScale
	if p.retry != eventbridge.BackoffRetry {
		// Without a dead-letter queue EventBridge discards a batch whose
		// retries ran out; EXPONENTIAL_DECAY_RETRY retries for a (scaled)
		// day, so only the function can lose a task.
		cfg.DeadLetter = nil
	}
	stream, err := eventbridge.NewStream(c.Fn, cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	timer, err := eventbridge.NewTimer(c.Fn, eventbridge.TimerConfig{
		Name: "sweep", Payload: `{"maxTasks":200}`, Interval: 2 * time.Second, RetryScale: chaosTimeScale,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, run := range []func(context.Context) error{stream.Run, timer.Run} {
		wg.Go(func() { _ = run(ctx) }) // failures are part of the chaos
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		c.Cloud.MNS.Advance(time.Second)
		if done() {
			return true
		}
	}
}

// chaosCounts are the disruptions a run made.
type chaosCounts struct {
	kills, expiries, slow, frozen, restarts atomic.Int64
}

// disrupt makes n disruptions at random moments drawn from rng, spread over
// about span: each one a call of act with its index.
func disrupt(ctx context.Context, rng *rand.Rand, n int, span time.Duration, act func(i int)) {
	for i := range n {
		if !sleep(ctx, time.Duration(rng.Int64N(int64(2*span/time.Duration(max(n, 1)))))) {
			return
		}
		act(i)
	}
}

// startDisruptions starts p's kills, visibility expiries and Redis spells
// at random moments over the run until ctx ends, counting them in counts.
// Each kind draws its moments from its own generator, seeded in a fixed
// order, so a seed replays the same run. The function returned waits for
// them to stop and leaves Redis fast and thawed.
func (c *chaosRig) startDisruptions(ctx context.Context, p chaosPlan, counts *chaosCounts) (wait func()) {
	span := max(10*time.Second, time.Duration(p.tasks)*50*time.Millisecond)
	moments := func() *rand.Rand {
		seed := c.rng.Uint64()
		return rand.New(rand.NewPCG(seed, seed))
	}
	killMoments, expiryMoments, redisMoments := moments(), moments(), moments()
	var wg sync.WaitGroup
	wg.Go(func() {
		disrupt(ctx, killMoments, p.kills, span, func(int) {
			if c.Fn.Kill() {
				counts.kills.Add(1)
			}
		})
	})
	wg.Go(func() {
		disrupt(ctx, expiryMoments, p.expiries, span, func(int) {
			// Every message received so far becomes visible again, its
			// handles dead: as if each invocation outlived its visibility.
			c.Cloud.MNS.Advance(time.Duration(p.visibility+1) * time.Second)
			counts.expiries.Add(1)
		})
	})
	wg.Go(func() {
		disrupt(ctx, redisMoments, p.redisSpells, span, func(i int) { c.redisSpell(ctx, i, counts) })
	})
	return func() {
		wg.Wait()
		c.proxy.SetLatency(0)
		c.proxy.Thaw()
	}
}

// settle lets whatever is still in flight land, faults off, until nothing
// more can be posted (no invocation runs and the queue is empty) or 15 s
// have passed: a lease of a killed instance lapses, a redelivered event is
// handled again. A duplicate it causes shows in what the channels got.
func (c *chaosRig) settle(p chaosPlan) {
	c.setFaults(0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c.drive(ctx, p, c.Quiet)
}

// redisSpell is spell i of the rotation: slow for a while (150 ms each
// way, a distant or overloaded Redis), frozen for a while, or restarted.
func (c *chaosRig) redisSpell(ctx context.Context, i int, counts *chaosCounts) {
	switch i % 3 {
	case 0:
		counts.slow.Add(1)
		c.proxy.SetLatency(300 * time.Millisecond)
		sleep(ctx, 5*time.Second)
		c.proxy.SetLatency(0)
	case 1:
		counts.frozen.Add(1)
		c.proxy.Freeze()
		sleep(ctx, 3*time.Second)
		c.proxy.Thaw()
	default:
		if err := c.redis.Restart(); err != nil {
			c.t.Errorf("restart Redis: %v", err)
			return
		}
		counts.restarts.Add(1)
	}
}

// logMessagesAbout logs what each channel received naming id, to show how
// a duplicate came about.
func (c *chaosRig) logMessagesAbout(id string) {
	for _, chat := range c.Cloud.Chats() {
		for _, l := range chat.Letters() {
			if strings.Contains(l.Text, id) {
				c.t.Logf("%s received, naming %s: %.600q", chat.Name, id, l.Text)
			}
		}
	}
}

// progress logs, every half minute until ctx ends, how far a long run has
// come.
func (c *chaosRig) progress(ctx context.Context, start time.Time) {
	for sleep(ctx, 30*time.Second) {
		lost, duplicated := c.tally()
		c.t.Logf("chaos: %s: %d of %d tasks posted on every channel, %d more than once, %d messages queued, %d instances",
			time.Since(start).Round(time.Second), len(c.ids)-len(lost), len(c.ids), len(duplicated), c.queued(), c.Fn.Instances())
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func runChaos(t *testing.T, p chaosPlan) {
	c := newChaosRig(t, p.seed, localcloud.Options{
		Seed: int64(p.seed), SlackHangAfterPost: true, DingTalkHangAfterDelivery: true,
		FeishuHangAfterDelivery: p.feishuAppBot, FeishuAppBot: p.feishuAppBot,
		VisibilityTimeout: p.visibility,
	}, max(p.instances, 1))
	start := time.Now()
	c.seed(p.tasks, 5*time.Second, p.large)
	c.setFaults(p.faultRate)

	ctx, cancel := context.WithTimeout(context.Background(), p.budget)
	defer cancel()
	var counts chaosCounts
	chaosCtx, stopChaos := context.WithCancel(ctx)
	disruptions := c.startDisruptions(chaosCtx, p, &counts)
	progressed := make(chan struct{})
	go func() { c.progress(chaosCtx, start); close(progressed) }()
	// Disruptions stop once every task has its verdicts; faults go on
	// until the queue is empty too.
	allPosted := func() bool {
		lost, _ := c.tally()
		return len(lost) == 0
	}
	posted := c.drive(ctx, p, func() bool {
		if allPosted() {
			stopChaos()
			return c.queued() == 0
		}
		return false
	})
	stopChaos()
	disruptions()
	<-progressed
	faultsOn := time.Since(start)

	c.settle(p)

	lost, duplicated := c.tally()
	var faults []string
	var injected, requests int
	calls := c.requests()
	for _, name := range chaosServices {
		fc := c.injectors()[name].Counts()
		n := fc[fault.Throttle] + fc[fault.Server] + fc[fault.Hang]
		injected += n
		requests += calls[name]
		faults = append(faults, fmt.Sprintf("%s %d of %d calls, %.0f%% (throttle %d, 5xx %d, hang %d)",
			name, n, calls[name], 100*float64(n)/float64(max(calls[name], 1)), fc[fault.Throttle], fc[fault.Server], fc[fault.Hang]))
	}
	st := c.Fn.Stats()
	// The function's dead-letter queue is for unreadable bodies: a good
	// task there is a fault. EventBridge's holds batches it gave up on; a
	// task of theirs that never reached a channel is counted as lost.
	dead, eventDead := len(c.Cloud.MNS.Messages(localcloud.DeadLetterQueue)), len(c.Cloud.MNS.Messages(localcloud.EventDeadLetterQueue))
	t.Logf("chaos: %d tasks, seed %d, %s with faults (all posted: %v), %s in all", p.tasks, p.seed, faultsOn.Round(time.Millisecond), posted, time.Since(start).Round(time.Millisecond))
	t.Logf("chaos: faults injected %d of %d calls: %s", injected, requests, strings.Join(faults, "; "))
	t.Logf("chaos: kills %d (of %d planned), visibility expiries %d, Redis slow %d, frozen %d, restarted %d",
		counts.kills.Load(), p.kills, counts.expiries.Load(), counts.slow.Load(), counts.frozen.Load(), counts.restarts.Load())
	t.Logf("chaos: invocations %d, succeeded %d, failed %d, timed out %d, died with their instance %d; instances started %d, at most %d at once, reclaimed %d",
		st.Invocations, st.Succeeded, st.Failed, st.TimedOut, st.InstanceDied, st.ColdStarts, st.PeakInstances, st.Reclaimed)
	t.Logf("chaos: slack messages %d, dingtalk messages %d, feishu messages %d, dead-lettered %d by the function and %d events by EventBridge, still queued %d",
		len(c.Cloud.Slack.Messages()), len(c.Cloud.DingTalk.Messages()), len(c.Cloud.Feishu.Messages()), dead, eventDead, c.queued())
	if len(lost) > 0 {
		t.Errorf("%d tasks lack a verdict on some channel: %s", len(lost), head(lost, 20))
	}
	if len(duplicated) > 0 {
		t.Errorf("%d tasks have a verdict more than once on some channel: %s", len(duplicated), head(duplicated, 20))
		c.logMessagesAbout(chaosID.FindString(duplicated[0]))
	}
	if dead != 0 {
		t.Errorf("%d good tasks were dead-lettered", dead)
	}
	c.checkEnd(p, injected)
	if path := os.Getenv("CHAOS_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(c.Output.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	line := fmt.Sprintf("chaos: tasks=%d instances=%d faulted=%d calls=%d kills=%d lost=%d duplicated=%d seconds=%.0f",
		p.tasks, p.instances, injected, requests, counts.kills.Load(), len(lost), len(duplicated), time.Since(start).Seconds())
	t.Log(line)
	fmt.Println(line)
}

// checkEnd fails the test when messages are left on the pending queue,
// when p planned faults and none was injected, or when a secret reached
// the function's output; a failed test logs the output's tail.
func (c *chaosRig) checkEnd(p chaosPlan, injected int) {
	t := c.t
	t.Helper()
	if n := c.queued(); n != 0 {
		t.Errorf("%d messages are still on the pending queue", n)
		for _, m := range c.Cloud.MNS.Messages(localcloud.PendingQueue) {
			t.Logf("left on the queue: dequeued %d times, visible at %s: %.300s", m.DequeueCount, m.NextVisibleTime.Format(time.RFC3339), m.Body)
		}
	}
	if p.faultRate > 0 && injected == 0 {
		t.Error("no fault was injected; the run proves nothing about faults")
	}
	if t.Failed() {
		t.Logf("function output (tail):\n%s", c.Output.Tail(8000))
	}
	assertNoSecrets(t, c.Output.String())
}

// requests counts the calls each service received from the function,
// faulted ones included.
func (c *chaosRig) requests() map[string]int {
	mnsCalls := 0
	for _, v := range c.Cloud.MNS.Requests() {
		mnsCalls += v
	}
	return map[string]int{
		"sas": c.Cloud.SAS.Calls("QueryPreCheckDatabase"), "mns": mnsCalls,
		"slack": c.Cloud.Slack.Requests(), "dingtalk": c.Cloud.DingTalk.Requests(), "feishu": c.Cloud.Feishu.Requests(),
	}
}

func head(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
	}
	return strings.Join(s, ", ")
}
