package ledger

import (
	"context"
	"crypto/rand"
	"slices"
	"time"
)

// runBook is the memory ledger's record of fleet runs, kept under its mutex.
// A run and its task index live for Retention from their latest write.
type runBook struct {
	runs  map[string]*runRecord  // by run id
	tasks map[string]*membership // by task id
}

type runRecord struct {
	plan   Run
	starts map[string]*start // by database
	until  time.Time
}

// start is one member's start: attempted, and started once taskID is set.
type start struct {
	taskID     string
	enqueued   bool
	token      string
	leaseUntil time.Time
}

type membership struct {
	Membership
	until time.Time
}

// run returns id's live record, or nil.
func (b *runBook) run(id string, now time.Time) *runRecord {
	r := b.runs[id]
	if r == nil || !now.Before(r.until) {
		return nil
	}
	return r
}

// record returns id's live record, making an empty one (no plan) if none.
func (b *runBook) record(id string, now time.Time) *runRecord {
	if b.runs == nil {
		b.runs, b.tasks = map[string]*runRecord{}, map[string]*membership{}
	}
	r := b.run(id, now)
	if r == nil {
		r = &runRecord{starts: map[string]*start{}}
		b.runs[id] = r
	}
	r.until = now.Add(Retention)
	return r
}

// PlanRun implements Runs.
func (m *Memory) PlanRun(ctx context.Context, run Run) (Run, error) {
	if err := checkPlan(run); err != nil {
		return Run{}, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return Run{}, err
	}
	defer m.mu.Unlock()
	r := m.runs.record(run.ID, now)
	if r.plan.ID == "" {
		r.plan = planOf(run, now)
	}
	return clonePlan(r.plan), nil
}

func clonePlan(p Run) Run {
	p.Members = slices.Clone(p.Members)
	return p
}

// Run implements Runs.
func (m *Memory) Run(ctx context.Context, id string) (Run, bool, error) {
	if err := checkRunID(id); err != nil {
		return Run{}, false, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return Run{}, false, err
	}
	defer m.mu.Unlock()
	r := m.runs.run(id, now)
	if r == nil || r.plan.ID == "" {
		return Run{}, false, nil
	}
	out := clonePlan(r.plan)
	for i, mb := range out.Members {
		if s := r.starts[mb.Database]; s != nil {
			out.Members[i].Start, out.Members[i].TaskID, out.Members[i].Enqueued = s.state(now), s.taskID, s.enqueued
		}
	}
	return out, true, nil
}

// state is how s stands at now for a reader other than its holder.
func (s *start) state(now time.Time) StartState {
	switch {
	case s.taskID != "":
		return Started
	case now.Before(s.leaseUntil):
		return Starting
	default:
		return Unsure
	}
}

// ClaimStart implements Runs.
func (m *Memory) ClaimStart(ctx context.Context, run, database string, ttl time.Duration) (StartClaim, error) {
	if err := checkStart(run, database); err != nil {
		return StartClaim{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return StartClaim{}, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return StartClaim{}, err
	}
	defer m.mu.Unlock()
	r := m.runs.record(run, now)
	if s := r.starts[database]; s != nil {
		return StartClaim{State: s.state(now), TaskID: s.taskID}, nil
	}
	token := rand.Text()
	r.starts[database] = &start{token: token, leaseUntil: now.Add(ttl)}
	return StartClaim{State: StartClaimed, Lease: StartLease{Run: run, Database: database, token: token}}, nil
}

// NoteStarted implements Runs.
func (m *Memory) NoteStarted(ctx context.Context, lease StartLease, taskID string) error {
	if err := checkStartLease(lease); err != nil {
		return err
	}
	if err := checkTasks([]string{taskID}); err != nil {
		return err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	r := m.runs.record(lease.Run, now)
	s := r.starts[lease.Database]
	if s == nil {
		s = &start{}
		r.starts[lease.Database] = s
	}
	if s.taskID == "" {
		s.taskID = taskID
		m.runs.tasks[taskID] = &membership{Membership: Membership{Run: lease.Run, Database: lease.Database}, until: now.Add(Retention)}
	}
	if s.token == lease.token {
		s.token, s.leaseUntil = "", time.Time{}
	}
	return nil
}

// VoidStart implements Runs.
func (m *Memory) VoidStart(ctx context.Context, lease StartLease) error {
	if err := checkStartLease(lease); err != nil {
		return err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	r := m.runs.run(lease.Run, now)
	if r == nil {
		return nil
	}
	if s := r.starts[lease.Database]; s != nil && s.taskID == "" {
		delete(r.starts, lease.Database)
	}
	return nil
}

// NoteEnqueued implements Runs.
func (m *Memory) NoteEnqueued(ctx context.Context, run string, databases []string) error {
	if err := checkDatabases(run, databases); err != nil {
		return err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	r := m.runs.record(run, now)
	for _, db := range databases {
		if s := r.starts[db]; s != nil && s.taskID != "" {
			s.enqueued = true
		}
	}
	return nil
}

// Memberships implements Runs.
func (m *Memory) Memberships(ctx context.Context, taskIDs []string) (map[string]Membership, error) {
	if err := checkTasks(taskIDs); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := map[string]Membership{}
	for _, id := range taskIDs {
		if mb := m.runs.tasks[id]; mb != nil && now.Before(mb.until) {
			out[id] = mb.Membership
		}
	}
	return out, nil
}
