package handler

import (
	"testing"

	"precheckwatch/ledger"
)

// TestRunComplete: a run is complete once its tally holds every started
// member, whatever became of the starts that are unsure, and never while
// a member is still to start.
func TestRunComplete(t *testing.T) {
	plan := func(states ...ledger.StartState) ledger.Run {
		var run ledger.Run
		for _, s := range states {
			run.Members = append(run.Members, ledger.Member{Start: s})
		}
		return run
	}
	cases := []struct {
		name    string
		run     ledger.Run
		tallied int
		want    bool
	}{
		{"every member started and tallied", plan(ledger.Started, ledger.Started), 2, true},
		{"a started member not tallied yet", plan(ledger.Started, ledger.Started), 1, false},
		{"unsure starts never have a verdict", plan(ledger.Started, ledger.Unsure, ledger.Unsure), 1, true},
		{"a member still to start", plan(ledger.Started, ledger.Unstarted), 1, false},
		{"a member being started", plan(ledger.Started, ledger.Starting), 1, false},
		{"nothing started, all unsure", plan(ledger.Unsure), 0, true},
	}
	for _, c := range cases {
		if got := complete(c.run, c.tallied); got != c.want {
			t.Errorf("%s: complete = %v, want %v", c.name, got, c.want)
		}
	}
}
