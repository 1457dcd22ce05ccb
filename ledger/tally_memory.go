package ledger

import (
	"context"
	"maps"
	"slices"
	"time"

	"precheckwatch/precheck"
)

// runEnds is the memory ledger's record of fleet runs' ends; its maps
// are made on first use, under Memory's mutex.
type runEnds struct {
	tallies map[string]*runTally    // by run
	last    map[string]*lastVerdict // by database
	latest  map[string]*expiring    // by fleet: its latest run
	follows map[string]*expiring    // by run: the run it follows
	open    map[string]time.Time    // by run: until when it is kept open
}

type runTally struct {
	verdicts map[string]precheck.Verdict // by database
	until    time.Time
}

// lastVerdict is a database's last verdict, and the one before, each with
// the run it was tallied in.
type lastVerdict struct {
	run, prevRun         string
	verdict, prevVerdict precheck.Verdict
	until                time.Time
}

type expiring struct {
	value string
	until time.Time
}

func (e *runEnds) init() {
	if e.tallies == nil {
		e.tallies, e.last, e.latest, e.follows, e.open = map[string]*runTally{}, map[string]*lastVerdict{},
			map[string]*expiring{}, map[string]*expiring{}, map[string]time.Time{}
	}
}

// TallyVerdicts implements Tallies.
func (m *Memory) TallyVerdicts(ctx context.Context, verdicts []RunVerdict) (Tallied, error) {
	if err := checkVerdicts(verdicts); err != nil {
		return Tallied{}, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return Tallied{}, err
	}
	defer m.mu.Unlock()
	e := &m.ends
	e.init()
	out := Tallied{Counts: map[string]int{}, Previous: map[string]precheck.Verdict{}}
	for _, v := range verdicts {
		t := e.tallies[v.Run]
		if t == nil || !now.Before(t.until) {
			t = &runTally{verdicts: map[string]precheck.Verdict{}}
			e.tallies[v.Run] = t
		}
		t.until = now.Add(Retention)
		if _, ok := t.verdicts[v.Database]; !ok {
			t.verdicts[v.Database] = v.Verdict
		}
		e.open[v.Run] = now.Add(Retention)

		l := e.last[v.Database]
		if l == nil || !now.Before(l.until) {
			l = &lastVerdict{}
			e.last[v.Database] = l
		}
		if l.run != v.Run {
			l.prevRun, l.prevVerdict = l.run, l.verdict
			l.run, l.verdict = v.Run, v.Verdict
		}
		l.until = now.Add(Retention)
		if l.prevRun != "" {
			out.Previous[v.Database] = l.prevVerdict
		}
	}
	for _, v := range verdicts {
		out.Counts[v.Run] = len(e.tallies[v.Run].verdicts)
	}
	return out, nil
}

// Tally implements Tallies.
func (m *Memory) Tally(ctx context.Context, run string) (map[string]precheck.Verdict, error) {
	if err := checkRunID(run); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	m.ends.init()
	if t := m.ends.tallies[run]; t != nil && now.Before(t.until) {
		return maps.Clone(t.verdicts), nil
	}
	return map[string]precheck.Verdict{}, nil
}

// FollowRun implements Tallies.
func (m *Memory) FollowRun(ctx context.Context, fleet, run string) (string, error) {
	if err := checkFleet(fleet); err != nil {
		return "", err
	}
	if err := checkRunID(run); err != nil {
		return "", err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	e := &m.ends
	e.init()
	if f := e.follows[fleet+"\n"+run]; f != nil && now.Before(f.until) {
		return f.value, nil
	}
	prev := ""
	if l := e.latest[fleet]; l != nil && now.Before(l.until) && l.value != run {
		prev = l.value
	}
	e.follows[fleet+"\n"+run] = &expiring{value: prev, until: now.Add(Retention)}
	e.latest[fleet] = &expiring{value: run, until: now.Add(Retention)}
	return prev, nil
}

// OpenRuns implements Tallies.
func (m *Memory) OpenRuns(ctx context.Context) ([]string, error) {
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	m.ends.init()
	var runs []string
	for run, until := range m.ends.open {
		if now.Before(until) {
			runs = append(runs, run)
		}
	}
	slices.Sort(runs)
	return runs, nil
}

// CloseRun implements Tallies.
func (m *Memory) CloseRun(ctx context.Context, run string) error {
	if err := checkRunID(run); err != nil {
		return err
	}
	if _, err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.ends.init()
	delete(m.ends.open, run)
	return nil
}
