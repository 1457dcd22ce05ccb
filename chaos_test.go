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
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// The long chaos run: go test -run 'TestChaos$' -chaos.tasks=2000
// -chaos.kills=25 -chaos.faultrate=0.2 -timeout 60m -v . The defaults are the
// short run of the normal suite. CHAOS_LOG=path keeps the function's log.
var (
	chaosTasks     = flag.Int("chaos.tasks", 40, "tasks the chaos test runs through the local cloud")
	chaosKills     = flag.Int("chaos.kills", 3, "SIGKILLs of the function process during the chaos test")
	chaosFaultRate = flag.Float64("chaos.faultrate", 0.2, "share of calls to every service that fail (throttling, 5xx, hangs)")
	chaosSeed      = flag.Uint64("chaos.seed", 1, "seed of the chaos test's choices (task scripts, kill moments, faults)")
	chaosBudget    = flag.Duration("chaos.budget", 0, "how long the chaos test may take before it reports the tasks it lost (default scales with the tasks)")
)

// chaosPlan is one chaos run.
type chaosPlan struct {
	tasks     int
	kills     int
	faultRate float64
	seed      uint64
	budget    time.Duration
}

// TestChaos sends tasks of random running times through the local cloud
// while every service fails a share of its calls and the function process is
// SIGKILLed at random moments, then checks SPEC §8: every task has exactly
// one final message on each channel, and the queue is empty.
func TestChaos(t *testing.T) {
	p := chaosPlan{tasks: *chaosTasks, kills: *chaosKills, faultRate: *chaosFaultRate, seed: *chaosSeed, budget: *chaosBudget}
	if p.budget == 0 {
		p.budget = 2*time.Minute + time.Duration(p.tasks)*300*time.Millisecond
	}
	runChaos(t, p)
}

// chaosRig is the local cloud, a real Redis as the shared delivery record,
// and the real binary under the emulated FC runtime.
type chaosRig struct {
	*rig
	rng *rand.Rand
	ids []string
}

func newChaosRig(t *testing.T, seed uint64, cloudOpts localcloud.Options, maxInstances int, overrides ...[2]string) *chaosRig {
	t.Helper()
	redis := redistest.Run(t)
	env := append([][2]string{
		{"DEDUPE_URL", redis.URL},
		{"BACKOFF_INITIAL", "200ms"}, {"BACKOFF_MAX", "1s"}, {"TASK_DEADLINE", "2h"}, {"LOG_LEVEL", "info"},
		{"SAS_RATE_LIMIT", "200"}, {"DIGEST_THRESHOLD", "1"},
	}, overrides...)
	r := startRig(t, rigConfig{cloud: cloudOpts, env: env, timeout: 10 * time.Second, timerPayload: `{"maxTasks":200}`, maxInstances: maxInstances})
	return &chaosRig{rig: r, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// seedRandom enqueues n tasks whose prechecks take 1 to 6 queries and end
// passed, warned, failed or in error.
func (c *chaosRig) seedRandom(n int, maxDelay time.Duration) {
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
		switch c.rng.IntN(4) {
		case 0:
			script.Result = securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-"+id, at, nil))
		case 1:
			script.Result = securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-"+id, at, map[string]string{"MYSQL_BINLOG_FORMAT": "WARNING"}))
		case 2:
			script.Result = securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-"+id, at, map[string]string{"MYSQL_DISK_SPACE": "NOT_ENOUGH"}))
		default:
			script.Description = securitycenter.DescriptionError
		}
		if err := c.cloud.SAS.AddTask(script); err != nil {
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
		if _, err := c.cloud.MNS.Send(localcloud.PendingQueue, string(body), delay); err != nil {
			c.t.Fatal(err)
		}
	}
}

// chaosID matches the ids seedRandom gives: fixed width, so no id is a
// prefix of another.
var chaosID = regexp.MustCompile(`chaos-\d{5}`)

// verdictCounts counts, per task id, the messages naming it on each channel.
func (c *chaosRig) verdictCounts() (slack, ding map[string]int) {
	count := func(text string, into map[string]int) {
		named := map[string]bool{}
		for _, id := range chaosID.FindAllString(text, -1) {
			if !named[id] {
				named[id] = true
				into[id]++
			}
		}
	}
	slack, ding = map[string]int{}, map[string]int{}
	for _, m := range c.cloud.Slack.Messages() {
		count(m.PlainText(), slack)
	}
	for _, m := range c.cloud.DingTalk.Messages() {
		count(m.PlainText(), ding)
	}
	return slack, ding
}

// tally compares the channels with the tasks: lost lack a message on some
// channel, duplicated have more than one on some channel.
func (c *chaosRig) tally() (lost, duplicated []string) {
	slack, ding := c.verdictCounts()
	for _, id := range c.ids {
		switch s, d := slack[id], ding[id]; {
		case s == 0 || d == 0:
			lost = append(lost, fmt.Sprintf("%s (slack %d, dingtalk %d)", id, s, d))
		case s > 1 || d > 1:
			duplicated = append(duplicated, fmt.Sprintf("%s (slack %d, dingtalk %d)", id, s, d))
		}
	}
	return lost, duplicated
}

func (c *chaosRig) queued() int {
	st := c.cloud.MNS.Stats(localcloud.PendingQueue)
	return st.Active + st.Delayed + st.Inactive
}

// injectors are the local cloud's fault injectors by service.
func (c *chaosRig) injectors() map[string]*fault.Injector {
	return map[string]*fault.Injector{
		"sas": c.cloud.SASFaults, "mns": c.cloud.MNSFaults, "slack": c.cloud.SlackFaults, "dingtalk": c.cloud.DingTalkFaults,
	}
}

// setFaults makes each service fail rate of its calls: throttling and 5xx
// answers share most of it, hangs (which cost a client timeout each) the
// rest. The injector draws kind after kind, so each kind's rate is its share
// of the calls the kinds before it spared.
func (c *chaosRig) setFaults(rate float64) {
	throttle := rate * 0.4
	server := rate * 0.45 / (1 - throttle)
	hang := rate * 0.15 / ((1 - throttle) * (1 - server))
	for _, in := range c.injectors() {
		in.Set(fault.Throttle, throttle)
		in.Set(fault.Server, server)
		in.Set(fault.Hang, hang)
		if rate > 0 {
			in.SetLatency(5 * time.Millisecond)
		} else {
			in.Reset()
		}
	}
}

// drive runs the platform around the function until done reports true or
// ctx ends: the EventBridge stream, a timer sweep every second, and a queue
// clock that skips backoff delays and visibility timeouts.
func (c *chaosRig) drive(ctx context.Context, done func() bool) bool {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: deferred calls run last first
	defer cancel()
	stream, err := eventbridge.NewStream(c.fn, eventbridge.StreamConfig{
		Queue: c.cloud.MNS, QueueName: localcloud.PendingQueue, FunctionName: "precheckwatch",
		// Large batches: DingTalk takes 20 messages a minute, so tasks must
		// share them, and an invocation digests only what it finished.
		BatchSize: 50, BatchWindow: time.Second,
		// Without a dead-letter queue EventBridge discards a batch whose
		// retries ran out; EXPONENTIAL_DECAY_RETRY keeps retrying for a
		// (scaled) day, so only the function can lose a task.
		RetryStrategy: eventbridge.ExponentialDecayRetry, RetryScale: 0.01,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = stream.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
			_, _ = c.timer.Fire(fctx) // failures are part of the chaos
			fcancel()
			sleep(ctx, time.Second)
		}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		// Four times real time: visibility timeouts (a minute) still
		// outlast an invocation (10s), so only lost answers, kills and
		// failed deletes bring a message back early.
		c.cloud.MNS.Advance(time.Second)
		if done() {
			return true
		}
	}
}

// killer SIGKILLs the function kills times at random moments spread over
// about span, and counts the kills that hit a live instance.
func (c *chaosRig) killer(ctx context.Context, kills int, span time.Duration, killed *atomic.Int64) {
	seed := c.rng.Uint64()
	rng := rand.New(rand.NewPCG(seed, seed))
	for range kills {
		if !sleep(ctx, time.Duration(rng.Int64N(int64(2*span/time.Duration(max(kills, 1)))))) {
			return
		}
		if c.fn.Kill() {
			killed.Add(1)
		}
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
	c := newChaosRig(t, p.seed, localcloud.Options{Seed: int64(p.seed), SlackHangAfterPost: true, DingTalkHangAfterDelivery: true, VisibilityTimeout: 60}, 1)
	start := time.Now()
	c.seedRandom(p.tasks, 5*time.Second)
	c.setFaults(p.faultRate)

	ctx, cancel := context.WithTimeout(context.Background(), p.budget)
	defer cancel()
	var killed atomic.Int64
	killCtx, stopKilling := context.WithCancel(ctx)
	var kwg sync.WaitGroup
	kwg.Add(1)
	go func() {
		defer kwg.Done()
		c.killer(killCtx, p.kills, max(10*time.Second, time.Duration(p.tasks)*50*time.Millisecond), &killed)
	}()
	// Kills stop once every task has its verdicts; faults go on until the
	// queue is empty too.
	allPosted := func() bool {
		lost, _ := c.tally()
		return len(lost) == 0
	}
	posted := c.drive(ctx, func() bool {
		if allPosted() {
			stopKilling()
			return c.queued() == 0
		}
		return false
	})
	stopKilling()
	kwg.Wait()
	faultsOn := time.Since(start)

	// Let whatever is still in flight land, faults off: a lease of a killed
	// instance expires, a redelivered event is handled again. Any duplicate
	// it causes is counted below.
	c.setFaults(0)
	settle, cancelSettle := context.WithTimeout(context.Background(), 15*time.Second)
	quietSince := time.Now()
	c.drive(settle, func() bool {
		if c.queued() != 0 {
			quietSince = time.Now()
		}
		return time.Since(quietSince) > 3*time.Second
	})
	cancelSettle()

	lost, duplicated := c.tally()
	var faults []string
	var injected, requests int
	calls := c.requests()
	for _, name := range []string{"sas", "mns", "slack", "dingtalk"} {
		counts := c.injectors()[name].Counts()
		n := counts[fault.Throttle] + counts[fault.Server] + counts[fault.Hang]
		injected += n
		requests += calls[name]
		faults = append(faults, fmt.Sprintf("%s %d of %d calls (throttle %d, 5xx %d, hang %d)",
			name, n, calls[name], counts[fault.Throttle], counts[fault.Server], counts[fault.Hang]))
	}
	st := c.fn.Stats()
	t.Logf("chaos: %d tasks, seed %d, %s with faults (all posted: %v), %s in all", p.tasks, p.seed, faultsOn.Round(time.Millisecond), posted, time.Since(start).Round(time.Millisecond))
	t.Logf("chaos: faults injected %d of %d calls (%.1f%%): %s", injected, requests, 100*float64(injected)/float64(max(requests, 1)), strings.Join(faults, "; "))
	t.Logf("chaos: kills %d (of %d planned); invocations %d, succeeded %d, failed %d, timed out %d, died with their instance %d, cold starts %d",
		killed.Load(), p.kills, st.Invocations, st.Succeeded, st.Failed, st.TimedOut, st.InstanceDied, st.ColdStarts)
	t.Logf("chaos: slack messages %d, dingtalk messages %d, dead-lettered %d", len(c.cloud.Slack.Messages()), len(c.cloud.DingTalk.Messages()), len(c.cloud.MNS.Messages(localcloud.DeadLetterQueue)))
	t.Logf("chaos: lost %d, duplicated %d, still queued %d", len(lost), len(duplicated), c.queued())
	if len(lost) > 0 {
		t.Errorf("%d tasks lack a verdict on some channel: %s", len(lost), head(lost, 20))
	}
	if len(duplicated) > 0 {
		t.Errorf("%d tasks have a verdict more than once on some channel: %s", len(duplicated), head(duplicated, 20))
	}
	if n := c.queued(); n != 0 {
		t.Errorf("%d messages are still on the pending queue", n)
		for _, m := range c.cloud.MNS.Messages(localcloud.PendingQueue) {
			t.Logf("left on the queue: dequeued %d times, visible at %s: %.300s", m.DequeueCount, m.NextVisibleTime.Format(time.RFC3339), m.Body)
		}
	}
	if n := len(c.cloud.MNS.Messages(localcloud.DeadLetterQueue)); n != 0 {
		t.Errorf("%d good tasks were dead-lettered", n)
	}
	if p.faultRate > 0 && injected == 0 {
		t.Error("no fault was injected; the run proves nothing about faults")
	}
	if t.Failed() {
		t.Logf("function output (tail):\n%s", c.output.tail(8000))
	}
	assertNoSecrets(t, c.output.String())
	if path := os.Getenv("CHAOS_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(c.output.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// requests counts the calls each service received from the function,
// faulted ones included.
func (c *chaosRig) requests() map[string]int {
	mnsCalls := 0
	for _, v := range c.cloud.MNS.Requests() {
		mnsCalls += v
	}
	return map[string]int{
		"sas": c.cloud.SAS.Calls("QueryPreCheckDatabase"), "mns": mnsCalls,
		"slack": c.cloud.Slack.Requests(), "dingtalk": c.cloud.DingTalk.Requests(),
	}
}

func head(s []string, n int) string {
	if len(s) > n {
		return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
	}
	return strings.Join(s, ", ")
}
