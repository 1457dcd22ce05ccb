package ledger

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"precheckwatch/internal/waitfor"
)

var runSeq atomic.Int64

// newRun returns a plan no other test uses (the Redis server is shared)
// with n members db-0 … db-(n-1).
func newRun(n int) Run {
	run := Run{ID: fmt.Sprintf("fleet-test-%06d", runSeq.Add(1)), Fleet: "regions cn-hangzhou"}
	for i := range n {
		run.Members = append(run.Members, Member{Database: fmt.Sprintf("cn-hangzhou/uuid-%d/MYSQL", i), Name: fmt.Sprintf("db-%d", i),
			DatabaseType: "MYSQL", UniRegionID: "cn-hangzhou", InstanceUUID: fmt.Sprintf("uuid-%d", i)})
	}
	return run
}

func planned(t *testing.T, l Ledger, run Run) Run {
	t.Helper()
	got, err := l.PlanRun(testContext(t), run)
	must(t, err)
	return got
}

func claimStart(t *testing.T, l Ledger, run Run, i int, ttl time.Duration, want StartState) StartClaim {
	t.Helper()
	c, err := l.ClaimStart(testContext(t), run.ID, run.Members[i].Database, ttl)
	must(t, err)
	if c.State != want {
		t.Fatalf("ClaimStart(%s) = %s, want %s", run.Members[i].Database, c.State, want)
	}
	return c
}

func readRun(t *testing.T, l Ledger, id string) Run {
	t.Helper()
	got, ok, err := l.Run(testContext(t), id)
	must(t, err)
	if !ok {
		t.Fatalf("Run(%s) not recorded", id)
	}
	return got
}

// startStates lists each member's start state and task id.
func startStates(run Run) string {
	var parts []string
	for _, m := range run.Members {
		s := m.Start.String()
		if m.TaskID != "" {
			s += "=" + m.TaskID
		}
		if m.Enqueued {
			s += ",enqueued"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// waitUnsure waits until the lapsed lease of member i leaves it Unsure.
func waitUnsure(t *testing.T, l Ledger, run Run, i int) {
	t.Helper()
	if !waitfor.Condition(5*time.Second, func() bool { return readRun(t, l, run.ID).Members[i].Start == Unsure }) {
		t.Fatal("start lease never lapsed")
	}
}

// TestRunLifecycle walks each run operation's documented meaning, one
// line per case, against every backend.
func TestRunLifecycle(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, l Ledger)
	}{
		{"the first plan of a run wins", func(t *testing.T, l Ledger) {
			first := newRun(2)
			got := planned(t, l, first)
			second := first
			second.Fleet, second.Members = "other", newRun(3).Members
			again := planned(t, l, second)
			if again.Fleet != first.Fleet || len(again.Members) != 2 || again.Members[1] != first.Members[1] {
				t.Fatalf("second PlanRun = %+v, want the first plan %+v", again, first)
			}
			if got.PlannedAt.IsZero() || !again.PlannedAt.Equal(got.PlannedAt) {
				t.Fatalf("PlannedAt = %v then %v, want one time set by the first plan", got.PlannedAt, again.PlannedAt)
			}
		}},
		{"a plan keeps a given planning time", func(t *testing.T, l Ledger) {
			run := newRun(1)
			run.PlannedAt = at
			if got := planned(t, l, run); !got.PlannedAt.Equal(at) {
				t.Fatalf("PlannedAt = %v, want %v", got.PlannedAt, at)
			}
		}},
		{"an unplanned run is not recorded", func(t *testing.T, l Ledger) {
			run := newRun(1)
			claimStart(t, l, run, 0, time.Minute, StartClaimed)
			if _, ok, err := l.Run(testContext(t), run.ID); err != nil || ok {
				t.Fatalf("Run of an unplanned run = %v, %v; want not recorded", ok, err)
			}
		}},
		{"a planned run's members are unstarted", func(t *testing.T, l Ledger) {
			run := newRun(2)
			run.Members[0].Start, run.Members[0].TaskID = Started, "t-forged"
			planned(t, l, run)
			if got := startStates(readRun(t, l, run.ID)); got != "unstarted unstarted" {
				t.Fatalf("starts = %s, want both unstarted: a plan records no start", got)
			}
		}},
		{"a claimed start makes others wait, then reads as started", func(t *testing.T, l Ledger) {
			run := newRun(2)
			planned(t, l, run)
			c := claimStart(t, l, run, 0, time.Minute, StartClaimed)
			claimStart(t, l, run, 0, time.Minute, Starting)
			if got := startStates(readRun(t, l, run.ID)); got != "starting unstarted" {
				t.Fatalf("starts = %s", got)
			}
			must(t, l.NoteStarted(testContext(t), c.Lease, "t-a1"))
			if c := claimStart(t, l, run, 0, time.Minute, Started); c.TaskID != "t-a1" {
				t.Fatalf("TaskID = %q, want t-a1", c.TaskID)
			}
			if got := startStates(readRun(t, l, run.ID)); got != "started=t-a1 unstarted" {
				t.Fatalf("starts = %s", got)
			}
		}},
		{"a started task's membership is recorded", func(t *testing.T, l Ledger) {
			run := newRun(2)
			planned(t, l, run)
			must(t, l.NoteStarted(testContext(t), claimStart(t, l, run, 1, time.Minute, StartClaimed).Lease, "t-m1-"+run.ID))
			got, err := l.Memberships(testContext(t), []string{"t-m1-" + run.ID, "t-none-" + run.ID})
			must(t, err)
			want := map[string]Membership{"t-m1-" + run.ID: {Run: run.ID, Database: run.Members[1].Database}}
			if len(got) != 1 || got["t-m1-"+run.ID] != want["t-m1-"+run.ID] {
				t.Fatalf("Memberships = %v, want %v", got, want)
			}
		}},
		{"an enqueued task reads as enqueued; only a started member is marked", func(t *testing.T, l Ledger) {
			run := newRun(3)
			planned(t, l, run)
			must(t, l.NoteStarted(testContext(t), claimStart(t, l, run, 0, time.Minute, StartClaimed).Lease, "t-q0"))
			must(t, l.NoteStarted(testContext(t), claimStart(t, l, run, 1, time.Minute, StartClaimed).Lease, "t-q1"))
			must(t, l.NoteEnqueued(testContext(t), run.ID, []string{run.Members[0].Database, run.Members[2].Database}))
			must(t, l.NoteEnqueued(testContext(t), run.ID, nil))
			if got := startStates(readRun(t, l, run.ID)); got != "started=t-q0,enqueued started=t-q1 unstarted" {
				t.Fatalf("starts = %s", got)
			}
		}},
		{"a lapsed start is unsure and never claimed again", func(t *testing.T, l Ledger) {
			run := newRun(1)
			planned(t, l, run)
			claimStart(t, l, run, 0, 5*time.Millisecond, StartClaimed)
			waitUnsure(t, l, run, 0)
			claimStart(t, l, run, 0, time.Minute, Unsure)
			claimStart(t, l, run, 0, time.Minute, Unsure)
		}},
		{"a start noted after its lease lapsed still counts", func(t *testing.T, l Ledger) {
			run := newRun(1)
			planned(t, l, run)
			c := claimStart(t, l, run, 0, 5*time.Millisecond, StartClaimed)
			waitUnsure(t, l, run, 0)
			must(t, l.NoteStarted(testContext(t), c.Lease, "t-late"))
			claimStart(t, l, run, 0, time.Minute, Started)
		}},
		{"the first noted task of a member is kept", func(t *testing.T, l Ledger) {
			run := newRun(1)
			planned(t, l, run)
			c := claimStart(t, l, run, 0, time.Minute, StartClaimed)
			must(t, l.NoteStarted(testContext(t), c.Lease, "t-first"))
			must(t, l.NoteStarted(testContext(t), c.Lease, "t-second"))
			if got := startStates(readRun(t, l, run.ID)); got != "started=t-first" {
				t.Fatalf("starts = %s, want the first task kept", got)
			}
		}},
		{"a voided start may be claimed again", func(t *testing.T, l Ledger) {
			run := newRun(1)
			planned(t, l, run)
			must(t, l.VoidStart(testContext(t), claimStart(t, l, run, 0, time.Minute, StartClaimed).Lease))
			if got := startStates(readRun(t, l, run.ID)); got != "unstarted" {
				t.Fatalf("starts = %s, want unstarted", got)
			}
			claimStart(t, l, run, 0, time.Minute, StartClaimed)
		}},
		{"voiding a started member changes nothing", func(t *testing.T, l Ledger) {
			run := newRun(1)
			planned(t, l, run)
			c := claimStart(t, l, run, 0, time.Minute, StartClaimed)
			must(t, l.NoteStarted(testContext(t), c.Lease, "t-kept"))
			must(t, l.VoidStart(testContext(t), c.Lease))
			claimStart(t, l, run, 0, time.Minute, Started)
		}},
		{"runs do not share starts", func(t *testing.T, l Ledger) {
			a, b := newRun(1), newRun(1)
			must(t, l.NoteStarted(testContext(t), claimStart(t, l, a, 0, time.Minute, StartClaimed).Lease, "t-a"))
			claimStart(t, l, b, 0, time.Minute, StartClaimed)
		}},
		{"many claimers of one start: one holds it", func(t *testing.T, l Ledger) {
			run := newRun(1)
			var claimed atomic.Int32
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := l.ClaimStart(testContext(t), run.ID, run.Members[0].Database, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if c.State == StartClaimed {
						claimed.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := claimed.Load(); n != 1 {
				t.Fatalf("%d of 16 claimers hold the start, want 1", n)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { eachLedger(t, tc.run) })
	}
}

// TestRunBadInput: every bad argument is refused with an error that says
// what is wrong, and records nothing.
func TestRunBadInput(t *testing.T) {
	long := strings.Repeat("r", MaxRunIDLen+1)
	cases := []struct {
		name string
		call func(l Ledger) error
		want string
	}{
		{"empty run id", func(l Ledger) error { _, err := l.PlanRun(testContext(t), Run{}); return err }, "run id"},
		{"run id with a space", func(l Ledger) error { _, _, err := l.Run(testContext(t), "a b"); return err }, `run id "a b"`},
		{"run id too long", func(l Ledger) error { _, err := l.ClaimStart(testContext(t), long, "db", time.Minute); return err }, "run id"},
		{"member without database", func(l Ledger) error {
			_, err := l.PlanRun(testContext(t), Run{ID: "r1", Members: []Member{{Name: "x"}}})
			return err
		}, "member without a database"},
		{"database listed twice", func(l Ledger) error {
			_, err := l.PlanRun(testContext(t), Run{ID: "r1", Members: []Member{{Database: "d"}, {Database: "d"}}})
			return err
		}, `database "d" twice`},
		{"start without database", func(l Ledger) error { _, err := l.ClaimStart(testContext(t), "r1", "", time.Minute); return err }, "without a database"},
		{"start lease ttl too short", func(l Ledger) error { _, err := l.ClaimStart(testContext(t), "r1", "d", 0); return err }, "ttl"},
		{"forged start lease", func(l Ledger) error {
			return l.NoteStarted(testContext(t), StartLease{Run: "r1", Database: "d"}, "t-1")
		}, "not obtained from ClaimStart"},
		{"forged void", func(l Ledger) error { return l.VoidStart(testContext(t), StartLease{Run: "r1", Database: "d"}) }, "not obtained from ClaimStart"},
		{"empty task id", func(l Ledger) error { _, err := l.Memberships(testContext(t), []string{""}); return err }, "empty task id"},
		{"enqueued without database", func(l Ledger) error { return l.NoteEnqueued(testContext(t), "r1", []string{""}) }, "without a database"},
		{"enqueued with a bad run id", func(l Ledger) error { return l.NoteEnqueued(testContext(t), "", nil) }, "run id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachLedger(t, func(t *testing.T, l Ledger) {
				err := tc.call(l)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error = %v, want one containing %q", err, tc.want)
				}
			})
		})
	}
	t.Run("empty task id on note", func(t *testing.T) {
		eachLedger(t, func(t *testing.T, l Ledger) {
			run := newRun(1)
			c := claimStart(t, l, run, 0, time.Minute, StartClaimed)
			if err := l.NoteStarted(testContext(t), c.Lease, ""); err == nil {
				t.Fatal("NoteStarted with an empty task id reported no error")
			}
			claimStart(t, l, run, 0, time.Minute, Starting)
		})
	})
}
