package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"precheckwatch/config"
	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/eventbridge"
	"precheckwatch/localcloud/rig"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
)

// demoFleetSize is how many databases the fleet demo's fleet holds.
const demoFleetSize = 24

// demoFailing is, per type, the item the fleet demo makes a database fail
// between its two runs.
var demoFailing = map[string]string{"MYSQL": "MYSQL_BINLOG", "MSSQL": "SQL_SERVER_DB_NOT_ONLINE", "Oracle": "ARCHIVELOG"}

// fleetDemoRun is one of the fleet demo's runs: what it expects each
// channel's summary to show.
type fleetDemoRun struct {
	id     string
	counts map[precheck.Verdict]int
	// changed names the databases whose line the summary's changes must
	// hold.
	changed []string
}

// RunFleet runs the fleet demo, printing its progress and each channel's
// summaries to out: two fleet runs through the function, each started by a
// fleet timer, the second after a few databases changed. It fails unless
// every channel shows each run's summary once, with the run's counts and
// changes.
func RunFleet(ctx context.Context, out io.Writer) error {
	d := &demo{out: out, labels: map[string]string{}, start: time.Now()}
	return d.runFleet(ctx)
}

func (d *demo) runFleet(ctx context.Context) error {
	binary, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the function binary: %w", err)
	}
	env := [][2]string{
		{"BACKOFF_INITIAL", "1s"}, {"BACKOFF_MAX", "2s"}, {"TASK_DEADLINE", "10m"}, {"SAS_RATE_LIMIT", "50"},
		// Only changes are paged: the rest is in each run's summary.
		{"NOTIFY_MODE", string(config.NotifyChanges)},
	}
	for _, name := range []string{"MESSAGE_LANG", "SLACK_LANG", "DINGTALK_LANG", "FEISHU_LANG"} {
		if v := os.Getenv(name); v != "" {
			env = append(env, [2]string{name, v})
		}
	}
	r, err := rig.Start(ctx, rig.Config{
		Binary: binary, Env: env, Timeout: 60 * time.Second,
		// One instance: the demo's delivery record is memory://, which
		// lives in one process; a deployment shares a Redis instead.
		Concurrency: 1,
	})
	if err != nil {
		return fmt.Errorf("start the local cloud and the function under the FC runtime: %w", err)
	}
	defer r.Close()
	cloud, fn := r.Cloud, r.Fn
	fleetDBs := securitycenter.GenerateFleet(demoFleetSize, 19)
	for _, db := range fleetDBs {
		cloud.SAS.AddDatabase(db)
	}
	d.say("local cloud up; Security Center holds a fleet of %d databases across %s", len(fleetDBs), strings.Join(securitycenter.FleetRegions, ", "))
	trigger := cloud.DeployedStream()
	trigger.BatchWindow, trigger.RetryScale = 500*time.Millisecond, 0.1
	stream, err := eventbridge.NewStream(fn, trigger)
	if err != nil {
		return err
	}
	sweep, err := eventbridge.NewTimer(fn, eventbridge.TimerConfig{Name: "sweep", Interval: 3 * time.Second})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = stream.Run(runCtx) }()
	go func() { _ = sweep.Run(runCtx) }()

	first := fleetDemoRun{id: "demo-fleet-week-1", counts: expectedCounts(fleetDBs)}
	if err := d.fleetRun(ctx, r, first); err != nil {
		return err
	}
	second, changes := changeFleet(cloud, fleetDBs)
	for _, c := range changes {
		d.say("changed: %s", c)
	}
	if err := d.fleetRun(ctx, r, second); err != nil {
		return err
	}
	stop()
	for _, chat := range cloud.Chats() {
		for _, run := range []fleetDemoRun{first, second} {
			l, _ := summaryLetter(chat, run.id)
			l.Print(d.out, l.Where+" — summary of "+run.id)
		}
	}
	fmt.Fprintf(d.out, "\nboth fleet runs summarised once on every channel in %.1fs: %d then %d databases, %d changes in the second run\n",
		time.Since(d.start).Seconds(), total(first.counts), total(second.counts), len(changes))
	return nil
}

// fleetRun starts run with a fleet timer, as s.yaml's would, waits for its
// summary on every channel and checks the counts and changes it shows.
func (d *demo) fleetRun(ctx context.Context, r *rig.Rig, run fleetDemoRun) error {
	payload, err := json.Marshal(map[string]any{"fleet": map[string]any{"regions": securitycenter.FleetRegions}, "run": run.id})
	if err != nil {
		return err
	}
	timer, err := eventbridge.NewTimer(r.Fn, eventbridge.TimerConfig{Name: "fleet", Payload: string(payload)})
	if err != nil {
		return err
	}
	res, err := timer.Fire(ctx)
	if err != nil {
		return fmt.Errorf("fleet timer of %s: %w", run.id, err)
	}
	var rep handler.Report
	if err := json.Unmarshal(res.Body, &rep); err != nil || rep.Fleet == nil {
		return fmt.Errorf("fleet timer of %s: unreadable report %q", run.id, res.Body)
	}
	d.say("fleet timer started run %s: %d databases, %d prechecks started, %d tasks enqueued", rep.Fleet.Run, rep.Fleet.Members, rep.Fleet.Started, rep.Fleet.Enqueued)
	if rep.Fleet.Members != total(run.counts) || !rep.Fleet.Done {
		return fmt.Errorf("run %s: %d members, done %v; want all %d started", run.id, rep.Fleet.Members, rep.Fleet.Done, total(run.counts))
	}
	summarised := func() bool {
		for _, chat := range r.Cloud.Chats() {
			if _, ok := summaryLetter(chat, run.id); !ok {
				return false
			}
		}
		return true
	}
	if err := r.Until(ctx, summarised, nil); err != nil {
		return fmt.Errorf("run %s: some channel still lacks its summary: %w", run.id, err)
	}
	for _, chat := range r.Cloud.Chats() {
		l, _ := summaryLetter(chat, run.id)
		if err := run.check(l); err != nil {
			return err
		}
		d.say("%s shows the summary of %s", l.Where, run.id)
	}
	return nil
}

// summaryLetter is the summary of run on chat, and whether there is
// exactly one (a second would be a repeat).
func summaryLetter(chat localcloud.Chat, run string) (localcloud.Letter, bool) {
	var found []localcloud.Letter
	for _, l := range chat.Letters() {
		if strings.Contains(l.Text, run) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return localcloud.Letter{}, false
	}
	return found[0], true
}

// verdictEmoji is how a summary's counts line marks each verdict, in
// either language.
var verdictEmoji = map[precheck.Verdict]string{precheck.Passed: "✅", precheck.Warning: "⚠️", precheck.Failed: "❌", precheck.Error: "🛑"}

// check reports a summary whose counts or changes are not the run's.
func (run fleetDemoRun) check(l localcloud.Letter) error {
	for v, n := range run.counts {
		if n > 0 && !regexp.MustCompile(regexp.QuoteMeta(verdictEmoji[v])+` [^·\n]*\b`+fmt.Sprint(n)+`\b`).MatchString(l.Text) {
			return fmt.Errorf("%s: the summary of %s does not count %d %s:\n%s", l.Where, run.id, n, v, l.Text)
		}
	}
	for _, name := range run.changed {
		if !strings.Contains(l.Text, name) {
			return fmt.Errorf("%s: the summary of %s does not show the change of %s:\n%s", l.Where, run.id, name, l.Text)
		}
	}
	return nil
}

// expectedVerdict is the verdict a generated database's precheck reaches.
func expectedVerdict(db securitycenter.Database) precheck.Verdict {
	v := precheck.Passed
	for _, r := range db.Precheck {
		switch {
		case r == securitycenter.Passed:
		case r == securitycenter.Warning && v == precheck.Passed:
			v = precheck.Warning
		default:
			v = precheck.Failed
		}
	}
	return v
}

func expectedCounts(dbs []securitycenter.Database) map[precheck.Verdict]int {
	out := map[precheck.Verdict]int{}
	for _, db := range dbs {
		out[expectedVerdict(db)]++
	}
	return out
}

func total(counts map[precheck.Verdict]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// changeFleet changes the fleet between the runs as a week would: two
// ready databases stop being ready, one not ready is fixed, one leaves the
// backup policy and a new one joins. It returns the second run and what
// changed.
func changeFleet(cloud *localcloud.Cloud, dbs []securitycenter.Database) (fleetDemoRun, []string) {
	run := fleetDemoRun{id: "demo-fleet-week-2"}
	var changes []string
	now := map[string]securitycenter.Database{}
	for _, db := range dbs {
		now[db.InstanceUUID] = db
	}
	broke, fixed, removed := 0, 0, 0
	for _, db := range dbs {
		switch verdict := expectedVerdict(db); {
		case verdict == precheck.Passed && broke < 2:
			broke++
			item := demoFailing[db.DatabaseType]
			cloud.SAS.UpdateDatabase(db.InstanceUUID, func(d *securitycenter.Database) { d.Precheck = map[string]string{item: "FAILED"} })
			db.Precheck = map[string]string{item: "FAILED"}
			now[db.InstanceUUID] = db
			run.changed = append(run.changed, db.InstanceName)
			changes = append(changes, fmt.Sprintf("%s now fails %s", db.InstanceName, item))
		case verdict != precheck.Passed && fixed < 1:
			fixed++
			cloud.SAS.UpdateDatabase(db.InstanceUUID, func(d *securitycenter.Database) { d.Precheck = nil })
			db.Precheck = nil
			now[db.InstanceUUID] = db
			run.changed = append(run.changed, db.InstanceName)
			changes = append(changes, fmt.Sprintf("%s was fixed", db.InstanceName))
		case verdict == precheck.Passed && removed < 1:
			removed++
			cloud.SAS.RemoveDatabase(db.InstanceUUID)
			delete(now, db.InstanceUUID)
			run.changed = append(run.changed, db.InstanceName)
			changes = append(changes, fmt.Sprintf("%s left the backup policy", db.InstanceName))
		}
	}
	joined := securitycenter.GenerateFleet(1, 7)[0]
	joined.InstanceName, joined.DatabaseName, joined.UniRegionID = "prod-analytics-new", "prod-analytics-new", securitycenter.FleetRegions[0]
	joined.Precheck = map[string]string{demoFailing[joined.DatabaseType]: "FAILED"}
	cloud.SAS.AddDatabase(joined)
	now[joined.InstanceUUID] = joined
	run.changed = append(run.changed, joined.InstanceName)
	changes = append(changes, fmt.Sprintf("%s joined, failing %s", joined.InstanceName, demoFailing[joined.DatabaseType]))
	var all []securitycenter.Database
	for _, db := range now {
		all = append(all, db)
	}
	run.counts = expectedCounts(all)
	return run, changes
}
