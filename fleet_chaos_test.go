package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/fleet"
	"precheckwatch/ledger"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
	"precheckwatch/queue"
	"precheckwatch/sas"
)

// The long fleet run, at FC scale:
//
//	go test -c -o /tmp/chaos.test . && /tmp/chaos.test -test.run 'TestFleetChaos$' -test.v -test.timeout 60m \
//	  -fleet.databases=500 -chaos.instances=4 -chaos.kills=10 -chaos.faultrate=0.2 -chaos.expiries=3 -chaos.redis=3
//
// The defaults are the short run of the normal suite; the chaos flags are
// TestChaos's.
var fleetDatabases = flag.Int("fleet.databases", 40, "databases in the fleet TestFleetChaos runs")

// TestFleetChaos starts a fleet run over every region of a generated
// fleet while Security Center fails its share of the starts, as the fleet
// timer does from one invocation to the next until the run is started,
// and lets several function instances check its tasks while every service
// fails its share of calls, instances are SIGKILLed, visibility timeouts
// expire and Redis turns slow, freezes or restarts. It then checks from
// the emulators' own records that no database was started twice, that
// every started task's verdict reached each channel exactly once, that
// each channel got exactly one summary of the run, and that the queue is
// empty.
func TestFleetChaos(t *testing.T) {
	p := chaosPlan{tasks: *fleetDatabases, instances: *chaosInstances, kills: *chaosKills, faultRate: *chaosFaultRate,
		seed: *chaosSeed, visibility: *chaosVisibility, expiries: *chaosExpiries, redisSpells: *chaosRedis}
	p.budget = *chaosBudget
	if p.budget == 0 {
		p.budget = 2*time.Minute + time.Duration(p.tasks)*300*time.Millisecond
	}
	c := newChaosRig(t, p.seed, localcloud.Options{
		Seed: int64(p.seed), SlackHangAfterPost: true, DingTalkHangAfterDelivery: true, VisibilityTimeout: p.visibility,
	}, p.instances, [2]string{"NOTIFY_MODE", "changes"})
	start := time.Now()
	for _, d := range securitycenter.GenerateFleet(p.tasks, p.seed) {
		c.Cloud.SAS.AddDatabase(d)
	}
	record, err := ledger.Open(c.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer record.Close()
	c.setFaults(p.faultRate)
	const runID = "fleet-chaos-run"
	// The run starts while the function checks what is started so far.
	started := make(chan error, 1)
	go func() {
		err := c.startFleet(record, runID)
		t.Logf("fleet chaos: run started after %s", time.Since(start).Round(time.Millisecond))
		started <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), p.budget)
	defer cancel()
	var counts chaosCounts
	chaosCtx, stopChaos := context.WithCancel(ctx)
	span := max(10*time.Second, time.Duration(p.tasks)*50*time.Millisecond)
	// Each disruption draws its moments from its own generator, as in
	// TestChaos.
	moments := func() *rand.Rand {
		seed := c.rng.Uint64()
		return rand.New(rand.NewPCG(seed, seed))
	}
	killMoments, expiryMoments, redisMoments := moments(), moments(), moments()
	var cwg sync.WaitGroup
	cwg.Go(func() {
		disrupt(chaosCtx, killMoments, p.kills, span, func(int) {
			if c.Fn.Kill() {
				counts.kills.Add(1)
			}
		})
	})
	cwg.Go(func() {
		disrupt(chaosCtx, expiryMoments, p.expiries, span, func(int) {
			c.Cloud.MNS.Advance(time.Duration(p.visibility+1) * time.Second)
			counts.expiries.Add(1)
		})
	})
	cwg.Go(func() {
		disrupt(chaosCtx, redisMoments, p.redisSpells, span, func(i int) { c.redisSpell(chaosCtx, i, &counts) })
	})
	var summarised time.Duration
	posted := c.drive(ctx, p, func() bool {
		if c.summaries(runID) != nil {
			if summarised == 0 {
				summarised = time.Since(start)
			}
			stopChaos()
			return c.queued() == 0
		}
		return false
	})
	stopChaos()
	cwg.Wait()
	c.proxy.SetLatency(0)
	c.proxy.Thaw()

	// Whatever is in flight lands with faults off; a late duplicate would
	// show below.
	c.setFaults(0)
	settle, cancelSettle := context.WithTimeout(context.Background(), 15*time.Second)
	quietSince := time.Now()
	c.drive(settle, p, func() bool {
		if c.queued() != 0 {
			quietSince = time.Now()
		}
		return time.Since(quietSince) > 3*time.Second
	})
	cancelSettle()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	run, _, err := record.Run(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}

	// With NOTIFY_MODE=changes a new database's verdict is posted on its
	// own only when it is not PASSED: every other one is in the summary.
	tallied, err := record.Tally(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var startedTwice, unsure, lost []string
	want := map[string]int{} // posts of each started task's verdict on each channel
	starts := c.Cloud.SAS.Starts()
	for _, m := range run.Members {
		switch n := starts[m.InstanceUUID]; {
		case n > 1:
			startedTwice = append(startedTwice, fmt.Sprintf("%s (%d starts)", m.Name, n))
		case m.Start == ledger.Unsure:
			unsure = append(unsure, m.Name)
		case m.Start != ledger.Started:
			t.Errorf("member %s is left %s", m.Name, m.Start)
		case tallied[m.Database] == "":
			lost = append(lost, m.TaskID+" (no verdict tallied)")
		case tallied[m.Database] == precheck.Passed:
			want[m.TaskID] = 0
		default:
			want[m.TaskID] = 1
		}
	}
	missing, duplicated := c.taskPosts(want)
	lost = append(lost, missing...)
	summaries := c.summaries(run.ID)
	var injected int
	for _, name := range chaosServices {
		fc := c.injectors()[name].Counts()
		injected += fc[fault.Throttle] + fc[fault.Server] + fc[fault.Hang]
	}
	if len(startedTwice) > 0 {
		t.Errorf("%d databases started more than once: %s", len(startedTwice), head(startedTwice, 20))
	}
	if len(lost) > 0 {
		t.Errorf("%d started tasks lack their verdict or its post on some channel: %s", len(lost), head(lost, 20))
	}
	if len(duplicated) > 0 {
		t.Errorf("%d tasks have their verdict posted more often than once on some channel, or a PASSED one at all: %s", len(duplicated), head(duplicated, 20))
	}
	for _, ch := range chatChannels {
		if n := summaries[ch]; n != 1 {
			t.Errorf("%s got %d summaries of the run, want 1", ch, n)
		}
	}
	if n := c.queued(); n != 0 {
		t.Errorf("%d messages are still on the pending queue", n)
	}
	if p.faultRate > 0 && injected == 0 {
		t.Error("no fault was injected; the run proves nothing about faults")
	}
	if t.Failed() {
		t.Logf("function output (tail):\n%s", c.Output.Tail(8000))
	}
	assertNoSecrets(t, c.Output.String())
	t.Logf("fleet chaos: the summary after %s", summarised.Round(time.Second))
	line := fmt.Sprintf("fleet chaos: databases=%d started=%d unsure=%d started-twice=%d instances=%d kills=%d expiries=%d redis-spells=%d faulted=%d lost=%d duplicated=%d summaries=%v posted=%v seconds=%.0f",
		p.tasks, len(want), len(unsure), len(startedTwice), p.instances, counts.kills.Load(), counts.expiries.Load(),
		counts.slow.Load()+counts.frozen.Load()+counts.restarts.Load(), injected, len(lost), len(duplicated), summaries, posted, time.Since(start).Seconds())
	t.Log(line)
	fmt.Println(line)
}

// startFleet starts run over every region of the generated fleet, one
// invocation a second as the fleet timer would until it is started, the
// first cut short half-way as a killed invocation is.
func (c *chaosRig) startFleet(record ledger.Ledger, run string) error {
	client, err := sas.New(sas.Config{Endpoint: c.Cloud.SASURL, Region: "cn-hangzhou"})
	if err != nil {
		return err
	}
	// A hang costs an invocation a short timeout, as in the function.
	q, err := queue.Open(queue.Config{Endpoint: c.Cloud.MNSURL, Name: localcloud.PendingQueue, Credentials: rig.STSKeys, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	starter := &fleet.Starter{SAS: client, Credentials: rig.STSKeys, Queue: q, Runs: record, CallTimeout: 2 * time.Second}
	req := fleet.Request{Spec: fleet.Spec{Regions: securitycenter.FleetRegions}, RunID: run}
	cut, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, _ = starter.Start(cut, req) // cut short: the next invocation resumes it
	cancel()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := starter.Start(ctx, req)
		cancel()
		// Faults cut invocations short or leave members to the next one,
		// which the fleet timer makes a second later, as a member's lease
		// a dead invocation holds lapses within seconds.
		switch {
		case err == nil:
			return nil
		case attempt == 60:
			return fmt.Errorf("fleet start after %d invocations: %w", attempt, err)
		}
		sleep(context.Background(), time.Second)
	}
}

// summaries counts, per channel, the summaries of run the channel got;
// nil until every channel has one.
func (c *chaosRig) summaries(run string) map[string]int {
	counts := map[string]int{}
	count := func(ch, text string) {
		if strings.Contains(text, "Fleet precheck") && strings.Contains(text, run) {
			counts[ch]++
		}
	}
	for _, chat := range c.Cloud.Chats() {
		for _, l := range chat.Letters() {
			count(chat.Name, l.Text)
		}
	}
	if len(counts) < len(chatChannels) {
		return nil
	}
	return counts
}

// taskPosts compares the verdicts the channels received, summaries aside,
// with how often each task's should show on each channel: lost show less
// often on some channel, duplicated more often.
func (c *chaosRig) taskPosts(want map[string]int) (lost, duplicated []string) {
	texts := map[string][]string{}
	for _, chat := range c.Cloud.Chats() {
		for _, l := range chat.Letters() {
			texts[chat.Name] = append(texts[chat.Name], l.Text)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		var per []string
		fewer, more := false, false
		for _, ch := range chatChannels {
			n := 0
			for _, text := range texts[ch] {
				if strings.Contains(text, id) && !strings.Contains(text, "Fleet precheck") && !rig.IsRecordAlert(text) {
					n++
				}
			}
			fewer, more = fewer || n < want[id], more || n > want[id]
			per = append(per, fmt.Sprintf("%s %d", ch, n))
		}
		desc := fmt.Sprintf("%s (want %d: %s)", id, want[id], strings.Join(per, ", "))
		switch {
		case fewer:
			lost = append(lost, desc)
		case more:
			duplicated = append(duplicated, desc)
		}
	}
	return lost, duplicated
}
