package ledger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"precheckwatch/precheck"
)

var tallySeq atomic.Int64

// newTallyRun returns a run id and n databases no other test uses (the
// Redis server is shared).
func newTallyRun(n int) (string, []string) {
	seq := tallySeq.Add(1)
	dbs := make([]string, n)
	for i := range dbs {
		dbs[i] = fmt.Sprintf("cn-hangzhou/uuid-%d-%d/MYSQL", seq, i)
	}
	return fmt.Sprintf("tally-test-%06d", seq), dbs
}

func tally(t *testing.T, l Ledger, verdicts ...RunVerdict) Tallied {
	t.Helper()
	got, err := l.TallyVerdicts(testContext(t), verdicts)
	must(t, err)
	return got
}

// TestRunTally walks each tally operation's documented meaning, one line
// per case, against every backend.
func TestRunTally(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, l Ledger)
	}{
		{"verdicts are counted per run", func(t *testing.T, l Ledger) {
			run, dbs := newTallyRun(3)
			got := tally(t, l, RunVerdict{run, dbs[0], precheck.Passed}, RunVerdict{run, dbs[1], precheck.Failed})
			if got.Counts[run] != 2 || len(got.Previous) != 0 {
				t.Fatalf("first tally = %+v, want 2 counted and no previous verdict", got)
			}
			if got := tally(t, l, RunVerdict{run, dbs[2], precheck.Passed}); got.Counts[run] != 3 {
				t.Fatalf("count = %d, want 3", got.Counts[run])
			}
			tallied, err := l.Tally(testContext(t), run)
			must(t, err)
			if fmt.Sprint(tallied) != fmt.Sprint(map[string]precheck.Verdict{dbs[0]: precheck.Passed, dbs[1]: precheck.Failed, dbs[2]: precheck.Passed}) {
				t.Fatalf("Tally = %v", tallied)
			}
		}},
		{"a verdict tallied again changes nothing", func(t *testing.T, l Ledger) {
			run, dbs := newTallyRun(1)
			tally(t, l, RunVerdict{run, dbs[0], precheck.Failed})
			got := tally(t, l, RunVerdict{run, dbs[0], precheck.Passed})
			tallied, err := l.Tally(testContext(t), run)
			must(t, err)
			if got.Counts[run] != 1 || tallied[dbs[0]] != precheck.Failed || len(got.Previous) != 0 {
				t.Fatalf("again: %+v, tally %v; want the first verdict, counted once", got, tallied)
			}
		}},
		{"the next run hears the last verdict, however often it tallies", func(t *testing.T, l Ledger) {
			first, dbs := newTallyRun(2)
			second, _ := newTallyRun(0)
			tally(t, l, RunVerdict{first, dbs[0], precheck.Passed})
			for range 2 {
				got := tally(t, l, RunVerdict{second, dbs[0], precheck.Failed}, RunVerdict{second, dbs[1], precheck.Passed})
				if got.Previous[dbs[0]] != precheck.Passed || len(got.Previous) != 1 || got.Counts[second] != 2 {
					t.Fatalf("second run: %+v, want %s's previous PASSED, none for the new one", got, dbs[0])
				}
			}
			third, _ := newTallyRun(0)
			if got := tally(t, l, RunVerdict{third, dbs[0], precheck.Passed}); got.Previous[dbs[0]] != precheck.Failed {
				t.Fatalf("third run hears %v, want FAILED", got.Previous)
			}
		}},
		{"runs follow each other per fleet, the same answer every call", func(t *testing.T, l Ledger) {
			fleet := fmt.Sprintf("regions cn-hangzhou; test %d", tallySeq.Add(1))
			a, _ := newTallyRun(0)
			b, _ := newTallyRun(0)
			for range 2 {
				follows(t, l, fleet, a, "")
				follows(t, l, fleet, b, a)
			}
			follows(t, l, "another "+fleet, b, "")
		}},
		{"a run is open from its first tally until closed", func(t *testing.T, l Ledger) {
			run, dbs := newTallyRun(1)
			if open(t, l)[run] {
				t.Fatal("an untallied run is open")
			}
			tally(t, l, RunVerdict{run, dbs[0], precheck.Passed})
			if !open(t, l)[run] {
				t.Fatal("a tallied run is not open")
			}
			must(t, l.CloseRun(testContext(t), run))
			if open(t, l)[run] {
				t.Fatal("a closed run is open")
			}
		}},
		{"bad input is refused", func(t *testing.T, l Ledger) {
			for _, v := range []RunVerdict{{"", "db", precheck.Passed}, {"run with spaces", "db", precheck.Passed}, {"r", "", precheck.Passed}, {"r", "db", ""}} {
				if _, err := l.TallyVerdicts(testContext(t), []RunVerdict{v}); err == nil {
					t.Errorf("TallyVerdicts(%+v) accepted", v)
				}
			}
			if _, err := l.FollowRun(testContext(t), "", "r"); err == nil {
				t.Error("FollowRun without a fleet accepted")
			}
		}},
		{"instances tallying at once count every verdict once", func(t *testing.T, l Ledger) {
			run, dbs := newTallyRun(40)
			var wg sync.WaitGroup
			var mu sync.Mutex
			full := 0
			for i := range 4 {
				wg.Go(func() {
					for j, db := range dbs {
						if j%4 != i && j%3 != 0 {
							continue // each database once, some twice
						}
						got, err := l.TallyVerdicts(testContext(t), []RunVerdict{{run, db, precheck.Passed}})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if got.Counts[run] == len(dbs) {
							full++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			tallied, err := l.Tally(testContext(t), run)
			must(t, err)
			if len(tallied) != len(dbs) || full == 0 {
				t.Fatalf("%d tallied, full seen %d times", len(tallied), full)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { eachLedger(t, c.run) })
	}
}

func follows(t *testing.T, l Ledger, fleet, run, want string) {
	t.Helper()
	got, err := l.FollowRun(testContext(t), fleet, run)
	must(t, err)
	if got != want {
		t.Fatalf("FollowRun(%s) = %q, want %q", run, got, want)
	}
}

func open(t *testing.T, l Ledger) map[string]bool {
	t.Helper()
	runs, err := l.OpenRuns(testContext(t))
	must(t, err)
	out := map[string]bool{}
	for _, r := range runs {
		out[r] = true
	}
	return out
}

func TestSummaryKeyIsItsOwn(t *testing.T) {
	k := SummaryKey("slack", "fleet-20261130T0200")
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	if k == (Key{TaskID: "fleet-20261130T0200", Channel: "slack", Verdict: "summary"}) || k == SummaryKey("dingtalk", "fleet-20261130T0200") {
		t.Fatalf("summary key %v shares a record", k)
	}
}
