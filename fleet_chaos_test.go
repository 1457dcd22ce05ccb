package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
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
//	  -fleet.databases=500 -fleet.runs=2 -chaos.instances=4 -chaos.kills=10 -chaos.faultrate=0.2 -chaos.expiries=3 -chaos.redis=3
//
// The defaults are the short run of the normal suite; the chaos flags are
// TestChaos's, and so is CHAOS_LOG=path, which keeps the function's log.
var (
	fleetDatabases = flag.Int("fleet.databases", 40, "databases in the fleet TestFleetChaos runs")
	fleetRuns      = flag.Int("fleet.runs", 1, "runs of the fleet TestFleetChaos makes, one after the other; the fleet does not change between them")
)

// TestFleetChaos starts fleet runs over every region of a generated fleet
// with NOTIFY_MODE=changes: each planned by an invocation cut short and
// started while Security Center and MNS fail their share of the calls, as
// the fleet timer does from one invocation to the next until a run is
// started, and lets several function instances check its tasks
// while every service fails its share of calls, instances are SIGKILLed,
// visibility timeouts expire and Redis turns slow, freezes or restarts. It
// then checks, per run, from the emulators' own records: no database was
// started twice, every started task's verdict is tallied, the verdicts
// that changed (for a new database: that are not PASSED) reached each
// channel exactly once and no other did, each channel got exactly one
// summary of the run (an unchanged run: that and nothing else), and the
// queue is empty. Feishu is posted to as -chaos.feishu says, by default
// through the app bot, the exactly-once way: its custom bot's webhook is
// at least once.
func TestFleetChaos(t *testing.T) {
	p := chaosPlan{tasks: *fleetDatabases, instances: *chaosInstances, kills: *chaosKills, faultRate: *chaosFaultRate,
		seed: *chaosSeed, visibility: *chaosVisibility, expiries: *chaosExpiries, redisSpells: *chaosRedis}
	p.budget = *chaosBudget
	if p.budget == 0 {
		p.budget = 2*time.Minute + time.Duration(p.tasks)*300*time.Millisecond
	}
	p.feishuAppBot = feishuAppBot(t)
	c := newChaosRig(t, p.seed, localcloud.Options{
		Seed: int64(p.seed), SlackHangAfterPost: true, DingTalkHangAfterDelivery: true,
		FeishuHangAfterDelivery: p.feishuAppBot, FeishuAppBot: p.feishuAppBot, VisibilityTimeout: p.visibility,
	}, p.instances, [2]string{"NOTIFY_MODE", "changes"})
	for _, d := range securitycenter.GenerateFleet(p.tasks, p.seed) {
		c.Cloud.SAS.AddDatabase(d)
	}
	record, err := ledger.Open(c.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer record.Close()
	var previous map[string]precheck.Verdict // the last run's tally
	for i := 1; i <= *fleetRuns && !t.Failed(); i++ {
		previous = c.fleetRun(t, p, record, fmt.Sprintf("fleet-chaos-run-%d", i), previous)
	}
	assertNoSecrets(t, c.Output.String())
}

// fleetRun makes one run of the fleet under chaos and checks it against
// the previous run's tally (nil for the first); it returns its own.
func (c *chaosRig) fleetRun(t *testing.T, p chaosPlan, record ledger.Ledger, runID string, previous map[string]precheck.Verdict) map[string]precheck.Verdict {
	start := time.Now()
	before, startsBefore, faultsBefore := c.chatMessages(), c.Cloud.SAS.Starts(), c.injected()
	starter, err := c.starter(record)
	if err != nil {
		t.Fatal(err)
	}
	req := fleet.Request{Spec: fleet.Spec{Regions: securitycenter.FleetRegions}, RunID: runID}
	// The run is planned while Security Center and MNS fail their share
	// of the calls, each failed page of the fleet's listing asked for
	// again; the invocation that plans it is cut short once the plan is
	// recorded, as a killed one is, starting only some.
	c.setFaults(p.faultRate)
	for attempt := 1; ; attempt++ {
		planned, err := planFleet(starter, record, req)
		if err != nil {
			t.Fatal(err)
		}
		if planned {
			break
		}
		if attempt == 10 {
			t.Fatalf("%s: not planned after %d invocations", runID, attempt)
		}
	}
	// The run starts while the function checks what is started so far.
	started := make(chan error, 1)
	go func() {
		err := startFleet(starter, req)
		t.Logf("fleet chaos: %s started after %s", runID, time.Since(start).Round(time.Millisecond))
		started <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), p.budget)
	defer cancel()
	var counts chaosCounts
	chaosCtx, stopChaos := context.WithCancel(ctx)
	disruptions := c.startDisruptions(chaosCtx, p, &counts)
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
	disruptions()
	c.settle(p)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	run, _, err := record.Run(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}

	// With NOTIFY_MODE=changes a verdict is posted on its own only when it
	// differs from the database's previous one (a new database's: when it
	// is not PASSED); every other one is in the summary.
	tallied, err := record.Tally(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var startedTwice, unsure, lost []string
	want := map[string]int{} // posts of each started task's verdict on each channel
	changed := 0
	starts := c.Cloud.SAS.Starts()
	for _, m := range run.Members {
		v := tallied[m.Database]
		prev, known := previous[m.Database]
		switch n := starts[m.InstanceUUID] - startsBefore[m.InstanceUUID]; {
		case n > 1:
			startedTwice = append(startedTwice, fmt.Sprintf("%s (%d starts)", m.Name, n))
		case m.Start == ledger.Unsure:
			unsure = append(unsure, m.Name)
		case m.Start != ledger.Started:
			t.Errorf("member %s is left %s", m.Name, m.Start)
		case v == "":
			lost = append(lost, m.TaskID+" (no verdict tallied)")
		case known && prev != v || !known && v != precheck.Passed:
			want[m.TaskID] = 1
			changed++
		default:
			want[m.TaskID] = 0
		}
	}
	missing, duplicated := c.taskPosts(want)
	lost = append(lost, missing...)
	summaries := c.summaries(run.ID)
	injected := c.injected() - faultsBefore
	if len(startedTwice) > 0 {
		t.Errorf("%s: %d databases started more than once a run: %s", runID, len(startedTwice), head(startedTwice, 20))
	}
	if len(lost) > 0 {
		t.Errorf("%s: %d started tasks lack their verdict or its post on some channel: %s", runID, len(lost), head(lost, 20))
	}
	if len(duplicated) > 0 {
		t.Errorf("%s: %d tasks have their verdict posted more often than once on some channel, or an unchanged one at all: %s", runID, len(duplicated), head(duplicated, 20))
		c.logMessagesAbout(strings.Fields(duplicated[0])[0])
	}
	after := c.chatMessages()
	for _, ch := range chatChannels {
		if n := summaries[ch]; n != 1 {
			t.Errorf("%s: %s got %d summaries of the run, want 1", runID, ch, n)
		}
		if n := after[ch] - before[ch]; changed == 0 && n != 1 {
			t.Errorf("%s: %s got %d messages for a run in which nothing changed, want its summary alone", runID, ch, n)
		}
	}
	if n := c.queued(); n != 0 {
		t.Errorf("%s: %d messages are still on the pending queue", runID, n)
	}
	if p.faultRate > 0 && injected == 0 {
		t.Errorf("%s: no fault was injected; the run proves nothing about faults", runID)
	}
	if t.Failed() {
		t.Logf("function output (tail):\n%s", c.Output.Tail(8000))
	}
	if path := os.Getenv("CHAOS_LOG"); path != "" {
		if err := os.WriteFile(path, []byte(c.Output.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Logf("fleet chaos: %s: the summary after %s", runID, summarised.Round(time.Second))
	line := fmt.Sprintf("fleet chaos: run=%s databases=%d started=%d unsure=%d started-twice=%d changed=%d instances=%d kills=%d expiries=%d redis-spells=%d faulted=%d lost=%d duplicated=%d messages=%v summaries=%v posted=%v seconds=%.0f",
		runID, p.tasks, len(want), len(unsure), len(startedTwice), changed, p.instances, counts.kills.Load(), counts.expiries.Load(),
		counts.slow.Load()+counts.frozen.Load()+counts.restarts.Load(), injected, len(lost), len(duplicated), diff(after, before), summaries, posted, time.Since(start).Seconds())
	t.Log(line)
	fmt.Println(line)
	return tallied
}

// injected counts the faults injected so far, every service's.
func (c *chaosRig) injected() int {
	n := 0
	for _, name := range chaosServices {
		fc := c.injectors()[name].Counts()
		n += fc[fault.Throttle] + fc[fault.Server] + fc[fault.Hang]
	}
	return n
}

// chatMessages counts each channel's messages, operator alerts aside.
func (c *chaosRig) chatMessages() map[string]int {
	out := map[string]int{}
	for ch, texts := range c.Texts() {
		for _, text := range texts {
			if !rig.IsRecordAlert(text) {
				out[ch]++
			}
		}
	}
	return out
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for ch, n := range after {
		out[ch] = n - before[ch]
	}
	return out
}

// starter is how the fleet command starts a run, on the local cloud with
// the function's record.
func (c *chaosRig) starter(record ledger.Ledger) (*fleet.Starter, error) {
	client, err := sas.New(sas.Config{Endpoint: c.Cloud.SASURL, Region: "cn-hangzhou"})
	if err != nil {
		return nil, err
	}
	// A hang costs an invocation a short timeout, as in the function.
	q, err := queue.Open(queue.Config{Endpoint: c.Cloud.MNSURL, Name: localcloud.PendingQueue, Credentials: rig.STSKeys, Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	return &fleet.Starter{SAS: client, Credentials: rig.STSKeys, Queue: q, Runs: record, CallTimeout: 2 * time.Second}, nil
}

// planFleet makes one invocation of req that is cut short as soon as the
// run's plan is recorded, and reports whether it was.
func planFleet(starter *fleet.Starter, record ledger.Ledger, req fleet.Request) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = starter.Start(ctx, req)
	}()
	for {
		_, planned, err := record.Run(context.Background(), req.RunID)
		if err != nil || planned {
			cancel()
			<-done
			return planned, err
		}
		select {
		case <-done:
			_, planned, err := record.Run(context.Background(), req.RunID)
			return planned, err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startFleet invokes req once a second, as the fleet timer would, until
// the run is started.
func startFleet(starter *fleet.Starter, req fleet.Request) error {
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
		case attempt == 120:
			return fmt.Errorf("fleet start after %d invocations: %w", attempt, err)
		}
		sleep(context.Background(), time.Second)
	}
}

// summaries counts, per channel, the summaries of run the channel got;
// nil until every channel has one.
func (c *chaosRig) summaries(run string) map[string]int {
	counts := map[string]int{}
	for ch, texts := range c.Texts() {
		for _, text := range texts {
			if strings.Contains(text, "Fleet precheck") && strings.Contains(text, run) {
				counts[ch]++
			}
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
	texts := c.Texts()
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
