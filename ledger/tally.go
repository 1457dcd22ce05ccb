package ledger

import (
	"context"
	"errors"

	"precheckwatch/precheck"
)

// RunVerdict is a fleet run's member task's sealed verdict.
type RunVerdict struct {
	// Run is the run the task was started in, Database the member it was
	// started for (its identity across runs).
	Run, Database string
	Verdict       precheck.Verdict
}

// Tallied is what TallyVerdicts found.
type Tallied struct {
	// Counts are, by run, how many of its databases have a verdict in its
	// tally, those just recorded included.
	Counts map[string]int
	// Previous are, by database, its last verdict before the run the
	// verdict was recorded for; a database that had none is absent.
	Previous map[string]precheck.Verdict
}

// Tallies is the record of fleet runs' ends; a Ledger is one.
//
// As each member task's verdict is sealed, it is tallied in its run and
// kept as its database's last verdict; once the tally holds every started
// member (or the run's deadline passed), the run's summary is posted once
// per channel, as a notification like any other, and the run is closed:
//
//	t, _ := l.TallyVerdicts(ctx, verdicts)      // per run: how many tallied; per database: its verdict before the run
//	prev, _ := l.FollowRun(ctx, fleet, run)     // the fleet's run before this one, the same on every call
//	tally, _ := l.Tally(ctx, run)               // the run's verdicts, and the previous run's
//	claims, _ := l.Claim(ctx, []Key{SummaryKey(channel, run)}, ttl)
//	l.CloseRun(ctx, run)                        // every channel has the summary
//
// Tallying is idempotent: a verdict tallied again (a retried invocation, a
// second copy of a task's message) changes neither the count nor the
// database's previous verdict, so every instance that tallies it hears the
// same answer.
type Tallies interface {
	// TallyVerdicts records each verdict in its run's tally unless the
	// database has one there (the first stands), and as its database's
	// last verdict, and opens the run (see OpenRuns); all in one round
	// trip.
	TallyVerdicts(ctx context.Context, verdicts []RunVerdict) (Tallied, error)
	// Tally returns run's verdicts by database.
	Tally(ctx context.Context, run string) (map[string]precheck.Verdict, error)
	// FollowRun records run as fleet's latest and returns the run it
	// follows, "" for the fleet's first: the answer recorded by the first
	// call for run, on every call.
	FollowRun(ctx context.Context, fleet, run string) (string, error)
	// OpenRuns lists the runs tallied and not closed.
	OpenRuns(ctx context.Context) ([]string, error)
	// CloseRun records that run's summary is done.
	CloseRun(ctx context.Context, run string) error
}

// summaryVerdict marks a run's summary key, which no task's has.
const summaryVerdict = "summary"

// SummaryKey names run's summary on channel: claimed, attempted and marked
// sent like a verdict, so it is posted once however many instances end
// the run together.
func SummaryKey(channel, run string) Key {
	return Key{TaskID: "run " + run, Channel: channel, Verdict: summaryVerdict}
}

func checkVerdicts(verdicts []RunVerdict) error {
	for _, v := range verdicts {
		if err := checkRunID(v.Run); err != nil {
			return err
		}
		if v.Database == "" || v.Verdict == "" {
			return errors.New("ledger: run verdict without a database or a verdict")
		}
	}
	return nil
}

func checkFleet(fleet string) error {
	if fleet == "" {
		return errors.New("ledger: run without a fleet")
	}
	return nil
}
