package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"precheckwatch/internal/redistest"
	"precheckwatch/internal/waitfor"
	"precheckwatch/ledger"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
	"precheckwatch/queue"
	"precheckwatch/sas"
	"precheckwatch/secret"
)

var sharedRedis *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet tests need Redis:", err)
		os.Exit(1)
	}
	sharedRedis = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// eachRecord runs test against a memory and a Redis ledger.
func eachRecord(t *testing.T, test func(t *testing.T, l ledger.Ledger)) {
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) {
			url := "memory://"
			if name == "redis" {
				url = sharedRedis.URL
			}
			l, err := ledger.Open(url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			test(t, l)
		})
	}
}

var creds = secret.Credentials{AccessKeyID: localcloud.AccessKeyID, AccessKeySecret: secret.Value(localcloud.AccessKeySecret)}

// rig is a local cloud holding a generated fleet, and a Starter on it.
type rig struct {
	cloud   *localcloud.Cloud
	fleet   []securitycenter.Database
	starter *Starter
}

func newRig(t *testing.T, l ledger.Ledger, n int) *rig {
	t.Helper()
	cloud, err := localcloud.Start(localcloud.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)
	r := &rig{cloud: cloud, fleet: securitycenter.GenerateFleet(n, 11)}
	for _, d := range r.fleet {
		cloud.SAS.AddDatabase(d)
	}
	client, err := sas.New(sas.Config{Endpoint: cloud.SASURL, Region: "cn-hangzhou"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Config{Endpoint: cloud.MNSURL, Name: localcloud.PendingQueue, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	r.starter = &Starter{SAS: client, Credentials: creds, Queue: q, Runs: l, CallTimeout: 2 * time.Second}
	return r
}

// want lists the generated databases spec covers, by DatabaseID.
func (r *rig) want(spec Spec) []string {
	spec, _ = spec.Normalize()
	var out []string
	for _, d := range r.fleet {
		name, _ := path.Match(spec.Match, d.InstanceName)
		if slices.Contains(spec.Regions, d.UniRegionID) && (len(spec.Types) == 0 || slices.Contains(spec.Types, d.DatabaseType)) && (spec.Match == "" || name) {
			out = append(out, DatabaseID(d.UniRegionID, d.InstanceUUID, d.DatabaseType))
		}
	}
	slices.Sort(out)
	return out
}

// queued reads the tasks on the pending queue, by DatabaseID.
func (r *rig) queued(t *testing.T) map[string][]precheck.Task {
	t.Helper()
	out := map[string][]precheck.Task{}
	for _, b := range r.cloud.MNS.Bodies(localcloud.PendingQueue) {
		task, err := precheck.ParseTask([]byte(b))
		if err != nil {
			t.Fatalf("queued body %q: %v", b, err)
		}
		id := DatabaseID(task.UniRegionID, task.InstanceUUID, task.DatabaseType)
		out[id] = append(out[id], task)
	}
	return out
}

// startsByDatabase counts the prechecks the emulator started per member.
func (r *rig) startsByDatabase() map[string]int {
	byAgent := r.cloud.SAS.Starts()
	out := map[string]int{}
	for _, d := range r.fleet {
		if n := byAgent[d.InstanceUUID]; n > 0 {
			out[DatabaseID(d.UniRegionID, d.InstanceUUID, d.DatabaseType)] = n
		}
	}
	return out
}

// checkOnce checks that every database of want was started exactly once
// (none of the others at all), and that its one task is queued with the
// run, and is the member's task and membership in the record.
func (r *rig) checkOnce(t *testing.T, l ledger.Ledger, run string, want []string) {
	t.Helper()
	starts, queued := r.startsByDatabase(), r.queued(t)
	rec, ok, err := l.Run(context.Background(), run)
	if err != nil || !ok {
		t.Fatalf("Run(%s) = %v, %v", run, ok, err)
	}
	var members []string
	var taskIDs []string
	for _, m := range rec.Members {
		members = append(members, m.Database)
		if m.Start != ledger.Started || !m.Enqueued {
			t.Errorf("member %s: %s, enqueued %v; want started and enqueued", m.Database, m.Start, m.Enqueued)
		}
		if got := queued[m.Database]; len(got) == 0 || got[0].TaskID != m.TaskID || got[0].Run != run || got[0].Label != m.Name {
			t.Errorf("member %s (task %s): queued %+v", m.Database, m.TaskID, got)
		}
		taskIDs = append(taskIDs, m.TaskID)
	}
	if !slices.Equal(members, want) {
		t.Fatalf("run members %v,\nwant %v", members, want)
	}
	for db, n := range starts {
		if n != 1 || !slices.Contains(want, db) {
			t.Errorf("database %s started %d times", db, n)
		}
	}
	if len(starts) != len(want) {
		t.Errorf("%d databases started, want %d", len(starts), len(want))
	}
	mb, err := l.Memberships(context.Background(), taskIDs)
	if err != nil || len(mb) != len(taskIDs) {
		t.Fatalf("Memberships: %d of %d tasks, %v", len(mb), len(taskIDs), err)
	}
}

func TestSpecNormalize(t *testing.T) {
	tests := []struct {
		spec    Spec
		want    string
		wantErr string
	}{
		{Spec{Regions: []string{"cn-shanghai", "cn-hangzhou", "cn-hangzhou"}}, "cn-hangzhou, cn-shanghai", ""},
		{Spec{Regions: []string{"cn-hangzhou"}, Types: []string{"mssql", "MYSQL", "oracle", "Oracle"}, Match: "prod-*"}, `cn-hangzhou · MSSQL, MYSQL, Oracle · "prod-*"`, ""},
		{Spec{}, "", "no region"},
		{Spec{Regions: []string{"cn hangzhou"}}, "", `region "cn hangzhou" is not a region id`},
		{Spec{Regions: []string{"cn-hangzhou"}, Types: []string{"POSTGRES"}}, "", `database type "POSTGRES" is not MYSQL, MSSQL or Oracle`},
		{Spec{Regions: []string{"cn-hangzhou"}, Match: "prod-["}, "", `match "prod-[" is not a valid pattern`},
		{Spec{Types: []string{"x"}}, "", "no region: name at least one, e.g. cn-hangzhou; database type \"x\""},
	}
	for _, tt := range tests {
		got, err := tt.spec.Normalize()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error %v, want one containing %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%+v: %q, %v; want %q", tt.spec, got, err, tt.want)
		}
	}
}

func TestRunID(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	a, _ := Spec{Regions: []string{"cn-hangzhou"}, Types: []string{"MYSQL"}}.Normalize()
	b, _ := Spec{Regions: []string{"cn-hangzhou"}, Types: []string{"mysql"}}.Normalize()
	c, _ := Spec{Regions: []string{"cn-hangzhou"}}.Normalize()
	m, _ := Spec{Regions: []string{"cn-hangzhou"}, Match: "MYSQL"}.Normalize()
	if m.String() == a.String() {
		t.Errorf("a pattern reads as a type: %q", m)
	}
	id := a.RunID(at)
	if err := CheckRunID(id); err != nil || !strings.HasPrefix(id, "fleet-") || !strings.HasSuffix(id, "-20261207T0300Z") {
		t.Fatalf("RunID = %q (%v)", id, err)
	}
	if b.RunID(at.In(time.FixedZone("CST", 8*3600))) != id {
		t.Error("one fleet and one scheduled time gave two run ids")
	}
	if c.RunID(at) == id || a.RunID(at.Add(7*24*time.Hour)) == id {
		t.Error("another fleet or another time gave the same run id")
	}
	for _, bad := range []string{"", "a b", "run/1", strings.Repeat("r", 65)} {
		if CheckRunID(bad) == nil {
			t.Errorf("CheckRunID(%q) accepted it", bad)
		}
	}
}

var ctxBackground = context.Background()

func TestStartFleet(t *testing.T) {
	specs := []Spec{
		{Regions: []string{"cn-hangzhou"}},
		{Regions: []string{"cn-hangzhou", "cn-shanghai"}, Types: []string{"MYSQL", "mssql"}},
		{Regions: []string{"cn-beijing", "ap-southeast-1"}, Match: "prod-*"},
	}
	for i, spec := range specs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			eachRecord(t, func(t *testing.T, l ledger.Ledger) {
				r := newRig(t, l, 120)
				run := fmt.Sprintf("fleet-start-%d-%d", i, time.Now().UnixNano())
				res, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
				want := r.want(spec)
				if err != nil || !res.Done() || res.Resumed || len(res.Started) != len(want) || res.Enqueued != len(want) || len(want) == 0 {
					t.Fatalf("Start: %v; started %d, enqueued %d, done %v; want %d", err, len(res.Started), res.Enqueued, res.Done(), len(want))
				}
				r.checkOnce(t, l, run, want)
				again, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
				if err != nil || !again.Resumed || len(again.Started) != 0 || again.Enqueued != 0 {
					t.Fatalf("the run again: %v; resumed %v, started %v, enqueued %d; want nothing done", err, again.Resumed, again.Started, again.Enqueued)
				}
				r.checkOnce(t, l, run, want)
			})
		})
	}
}

func TestDryRun(t *testing.T) {
	eachRecord(t, func(t *testing.T, l ledger.Ledger) {
		r := newRig(t, l, 60)
		spec := Spec{Regions: []string{"cn-hangzhou", "cn-shanghai"}}
		run := fmt.Sprint("fleet-dry-", time.Now().UnixNano())
		res, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run, DryRun: true})
		if err != nil || len(res.Run.Members) != len(r.want(spec)) || res.Listed != len(r.want(spec)) {
			t.Fatalf("dry run: %v; %d members of %d listed, want %d", err, len(res.Run.Members), res.Listed, len(r.want(spec)))
		}
		if _, ok, _ := l.Run(ctxBackground, run); ok || r.cloud.SAS.Calls(securitycenter.ActionStartPreCheckDatabase) != 0 || len(r.queued(t)) != 0 {
			t.Fatal("a dry run recorded, started or queued something")
		}
	})
}

// cutAfter is the real client, except that once n prechecks have started
// it ends the invocation's context, as a timeout or a kill would.
type cutAfter struct {
	SecurityCenter
	n      int32
	starts atomic.Int32
	cut    context.CancelFunc
}

func (c *cutAfter) StartPreCheck(ctx context.Context, creds secret.Credentials, dbType, region, uuid string) (string, error) {
	id, err := c.SecurityCenter.StartPreCheck(ctx, creds, dbType, region, uuid)
	if c.starts.Add(1) == c.n {
		c.cut()
	}
	return id, err
}

func TestInterruptedRunResumes(t *testing.T) {
	eachRecord(t, func(t *testing.T, l ledger.Ledger) {
		r := newRig(t, l, 150)
		spec := Spec{Regions: securitycenter.FleetRegions}
		run := fmt.Sprint("fleet-cut-", time.Now().UnixNano())
		ctx, cancel := context.WithCancel(ctxBackground)
		defer cancel()
		real := r.starter.SAS
		r.starter.SAS = &cutAfter{SecurityCenter: real, n: 40, cut: cancel}
		first, err := r.starter.Start(ctx, Request{Spec: spec, RunID: run})
		if !errors.Is(err, ErrIncomplete) || first.Done() || len(first.Started) < 40 || first.Left == 0 {
			t.Fatalf("cut invocation: %v; started %d, left %d", err, len(first.Started), first.Left)
		}
		r.starter.SAS = real
		second, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
		if err != nil || !second.Resumed || len(first.Started)+len(second.Started) != 150 {
			t.Fatalf("next invocation: %v; started %d after %d", err, len(second.Started), len(first.Started))
		}
		r.checkOnce(t, l, run, r.want(spec))
	})
}

// TestDeadHolders: a holder that died after claiming a start leaves the
// member to no one (it is never started twice); one that died after the
// start but before the send leaves its task to be sent by the next
// invocation.
func TestDeadHolders(t *testing.T) {
	eachRecord(t, func(t *testing.T, l ledger.Ledger) {
		r := newRig(t, l, 30)
		spec := Spec{Regions: securitycenter.FleetRegions}
		run := fmt.Sprint("fleet-dead-", time.Now().UnixNano())
		want := r.want(spec)
		plan, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.PlanRun(ctxBackground, plan.Run); err != nil {
			t.Fatal(err)
		}
		diedClaiming, diedSending := plan.Run.Members[0], plan.Run.Members[1]
		if _, err := l.ClaimStart(ctxBackground, run, diedClaiming.Database, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		c, err := l.ClaimStart(ctxBackground, run, diedSending.Database, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		taskID, err := r.starter.SAS.StartPreCheck(ctxBackground, creds, diedSending.DatabaseType, diedSending.UniRegionID, diedSending.InstanceUUID)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.NoteStarted(ctxBackground, c.Lease, taskID); err != nil {
			t.Fatal(err)
		}

		res, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
		if !res.Resumed || res.Enqueued != len(want)-1 || len(res.Started) != len(want)-2 {
			t.Fatalf("invocation after the deaths: %v; started %d, enqueued %d of %d", err, len(res.Started), res.Enqueued, len(want))
		}
		if q := r.queued(t)[diedSending.Database]; len(q) != 1 || q[0].TaskID != taskID {
			t.Fatalf("the task its holder died before sending: queued %+v", q)
		}
		// The dead claim lapses into Unsure: the next invocation ends the
		// run without it.
		lapsed := waitfor.Condition(5*time.Second, func() bool {
			got, _, err := l.Run(ctxBackground, run)
			i := slices.IndexFunc(got.Members, func(m ledger.Member) bool { return m.Database == diedClaiming.Database })
			return err == nil && i >= 0 && got.Members[i].Start == ledger.Unsure
		})
		if !lapsed {
			t.Fatal("the dead claim's lease never lapsed")
		}
		res, err = r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
		if err != nil || !res.Done() || res.Count(ledger.Unsure) != 1 || r.startsByDatabase()[diedClaiming.Database] != 0 {
			t.Fatalf("after the lapse: %v; done %v, %d unsure, the dead claim's database started %d times", err, res.Done(), res.Count(ledger.Unsure), r.startsByDatabase()[diedClaiming.Database])
		}
	})
}

// TestStartFaults: throttling and the gateway's 503 started nothing and
// are tried again; a 500 or a lost answer may have started a precheck, so
// its member is unsure and never started again; no database is started
// twice, and every started one is queued.
func TestStartFaults(t *testing.T) {
	eachRecord(t, func(t *testing.T, l ledger.Ledger) {
		r := newRig(t, l, 80)
		r.cloud.SASFaults.Set(fault.Throttle, 0.2)
		r.cloud.SASFaults.Set(fault.Server, 0.1)
		spec := Spec{Regions: securitycenter.FleetRegions}
		run := fmt.Sprint("fleet-faults-", time.Now().UnixNano())
		// Planned, every member is started and queued or unsure, or still
		// Starting under the lease of a start whose answer was lost, which
		// lapses into Unsure.
		settled := func(res Result) bool {
			for _, m := range res.Run.Members {
				if m.Start == ledger.Unstarted || m.Start == ledger.Started && !m.Enqueued {
					return false
				}
			}
			return len(res.Run.Members) > 0
		}
		var res Result
		var err error
		for i := 0; !settled(res); i++ {
			if i == 10 {
				t.Fatalf("10 invocations did not start the run: %v", err)
			}
			res, err = r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
		}
		r.cloud.SASFaults.Reset()
		if want := r.want(spec); len(res.Run.Members) != len(want) {
			t.Fatalf("the plan has %d members, want %d", len(res.Run.Members), len(want))
		}
		starts, queued := r.startsByDatabase(), r.queued(t)
		for _, m := range res.Run.Members {
			switch {
			case m.Start == ledger.Started && (starts[m.Database] != 1 || len(queued[m.Database]) == 0):
				t.Errorf("started member %s: %d starts, queued %v", m.Database, starts[m.Database], queued[m.Database])
			case m.Start != ledger.Started && starts[m.Database] > 1:
				t.Errorf("%s member %s started %d times", m.Start, m.Database, starts[m.Database])
			}
		}
		if counts := r.cloud.SASFaults.Counts(); counts[fault.Throttle] == 0 || res.Count(ledger.Started) < len(res.Run.Members)/2 {
			t.Fatalf("faults %v, %d of %d started", counts, res.Count(ledger.Started), len(res.Run.Members))
		}
	})
}

func TestStartRefused(t *testing.T) {
	eachRecord(t, func(t *testing.T, l ledger.Ledger) {
		r := newRig(t, l, 40)
		r.cloud.SAS.Deny(localcloud.AccessKeyID, securitycenter.ActionStartPreCheckDatabase)
		spec := Spec{Regions: securitycenter.FleetRegions}
		run := fmt.Sprint("fleet-denied-", time.Now().UnixNano())
		res, err := r.starter.Start(ctxBackground, Request{Spec: spec, RunID: run})
		if err == nil || !strings.Contains(err.Error(), "NoPermission") || len(res.Started) != 0 || res.Count(ledger.Unstarted) != len(res.Run.Members) {
			t.Fatalf("denied: %v; started %d, %d of %d unstarted", err, len(res.Started), res.Count(ledger.Unstarted), len(res.Run.Members))
		}
		if n := r.cloud.SAS.Calls(securitycenter.ActionStartPreCheckDatabase); n > 4 {
			t.Errorf("%d starts tried after the first NoPermission, want the run to stop", n)
		}
	})
}

func TestBadRequest(t *testing.T) {
	s := &Starter{}
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Spec: Spec{Regions: []string{"cn-hangzhou"}, Types: []string{"DB2"}}, RunID: "r"}, `database type "DB2"`},
		{Request{Spec: Spec{Regions: []string{"cn-hangzhou"}}}, "needs an id or a scheduled time"},
		{Request{Spec: Spec{Regions: []string{"cn-hangzhou"}}, RunID: "a/b"}, `run id "a/b"`},
	} {
		if _, err := s.Start(ctxBackground, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.req, err, tc.want)
		}
	}
}

// TestEveryCallIsPaced: each Security Center call, a page of the listing
// or a start, takes one of the rate limit's tokens. With a burst of ten and
// no refill, a run of 30 databases in one region lists its two pages,
// starts eight, and leaves the rest to the next invocation.
func TestEveryCallIsPaced(t *testing.T) {
	eachRecord(t, func(t *testing.T, l ledger.Ledger) {
		r := newRig(t, l, 0)
		for i, d := range securitycenter.GenerateFleet(30, 4) {
			d.UniRegionID, d.InstanceName = "cn-hangzhou", fmt.Sprintf("db-%02d", i)
			r.cloud.SAS.AddDatabase(d)
		}
		r.starter.Limit = rate.NewLimiter(0, 10)
		r.starter.Concurrency = 1
		run := fmt.Sprint("fleet-paced-", time.Now().UnixNano())
		// Under a deadline a limiter that can never grant a token says so
		// at once, as it would of one that cannot grant it in time.
		ctx, cancel := context.WithTimeout(ctxBackground, time.Minute)
		defer cancel()
		res, err := r.starter.Start(ctx, Request{Spec: Spec{Regions: []string{"cn-hangzhou"}}, RunID: run})
		lists, starts := r.cloud.SAS.Calls(securitycenter.ActionDescribeUniBackupDatabase), r.cloud.SAS.Calls(securitycenter.ActionStartPreCheckDatabase)
		if !errors.Is(err, ErrIncomplete) || lists != 2 || starts != 8 || len(res.Started) != 8 || res.Left != 22 {
			t.Fatalf("paced run: %v; %d pages listed, %d starts, %d started, %d left; want 2, 8, 8, 22", err, lists, starts, len(res.Started), res.Left)
		}
	})
}

// Members people would know by one name are told apart, by region and,
// where that is not enough, by backup agent; others keep their names.
func TestDistinguishNames(t *testing.T) {
	m := func(name, region, agent string) ledger.Member {
		return ledger.Member{Database: DatabaseID(region, agent, "MYSQL"), Name: name, UniRegionID: region, InstanceUUID: agent}
	}
	members := []ledger.Member{
		m("orders", "cn-hangzhou", "a1"), m("orders", "cn-shanghai", "b1"),
		m("billing", "cn-hangzhou", "a2"), m("billing", "cn-hangzhou", "a3"),
		m("wiki", "cn-hangzhou", "a4"), m("", "cn-hangzhou", "a5"), m("", "cn-hangzhou", "a6"),
	}
	distinguish(members)
	var got []string
	for _, m := range members {
		got = append(got, m.Name)
	}
	want := []string{"orders (cn-hangzhou)", "orders (cn-shanghai)",
		"billing (cn-hangzhou) (a2)", "billing (cn-hangzhou) (a3)", "wiki", "", ""}
	if !slices.Equal(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
}
