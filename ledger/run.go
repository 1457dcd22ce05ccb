package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxRunIDLen is the longest run id.
const MaxRunIDLen = 64

// Run is a fleet run's record: its identity, what it covers, and its
// members.
type Run struct {
	// ID names the run: letters, digits, '.', '_' and '-', at most
	// MaxRunIDLen. Every invocation that starts the same run uses the same
	// id (package fleet derives it from the fleet and the scheduled time,
	// or takes it as given).
	ID string
	// Fleet describes the databases the run covers (its filter), e.g.
	// `cn-hangzhou · MYSQL · "prod-*"`, in one canonical
	// form (package fleet's Spec.String): the same fleet always reads the
	// same, so it also names the fleet across its runs.
	Fleet string
	// PlannedAt is when the run's plan was first recorded.
	PlannedAt time.Time
	// Members are the run's databases, one precheck each, ordered by
	// Database. PlanRun records their identity; Run fills in how each
	// one's start stands.
	Members []Member
}

// Member is one database of a fleet run: one StartPreCheckDatabase call.
type Member struct {
	// Database is the database's identity across runs (package fleet uses
	// region, backup agent and database type): the key of its last verdict
	// and of what changed since the previous run.
	Database string
	// Name is how people know the database (its instance or database
	// name), for messages.
	Name string
	// What StartPreCheckDatabase takes, and the queued task carries.
	DatabaseType string
	UniRegionID  string
	InstanceUUID string

	// Start is how the member's precheck start stands, as Run reads it;
	// PlanRun ignores it.
	Start StartState
	// TaskID is the precheck task started for the member in this run,
	// when Start is Started.
	TaskID string
	// Enqueued reports that the task was sent to the pending queue.
	Enqueued bool
}

// StartState is how a member's precheck start stands.
type StartState int

// The states of a member's start.
const (
	// Unstarted: no start was attempted yet (or one surely failed).
	Unstarted StartState = iota
	// Started: the precheck runs as Member.TaskID.
	Started
	// Starting: a holder's lease is live; it is starting the precheck now.
	Starting
	// Unsure: a start was attempted and its outcome is unknown (the holder
	// died or lost the answer); it is never attempted again in this run.
	Unsure
	// StartClaimed: ClaimStart's answer when the caller holds the start's
	// lease and should start the precheck.
	StartClaimed
)

// String names the state for logs and reports.
func (s StartState) String() string {
	switch s {
	case Unstarted:
		return "unstarted"
	case Started:
		return "started"
	case Starting:
		return "starting"
	case Unsure:
		return "unsure"
	case StartClaimed:
		return "claimed"
	}
	return fmt.Sprintf("StartState(%d)", int(s))
}

// StartLease is the right to start one member's precheck, held until
// NoteStarted, VoidStart or its TTL. Only ClaimStart makes a valid one.
type StartLease struct {
	Run      string
	Database string
	token    string
}

// StartClaim is ClaimStart's answer.
type StartClaim struct {
	// State is StartClaimed, Started, Starting or Unsure.
	State StartState
	// TaskID is the started task when State is Started.
	TaskID string
	// Lease is held when State is StartClaimed.
	Lease StartLease
}

// Membership says which run, and which of its members, a task was started
// for.
type Membership struct {
	Run      string
	Database string
}

// Runs is the record of fleet runs; a Ledger is one.
//
// A fleet run starts one precheck for each database of a fleet, and ends
// with one summary once every started task has its verdict. Its record is
// shared by every instance, so that a run interrupted half-way (a timeout, a
// kill) is finished by the next invocation of the same run, and no database
// is started twice in one run:
//
//	run, _ := l.PlanRun(ctx, plan)                // the first plan of a run wins: its members are the run's
//	c, _ := l.ClaimStart(ctx, run.ID, db, ttl)    // Started, Starting, Unsure, or StartClaimed
//	id, err := StartPreCheckDatabase(...)         // only when StartClaimed
//	l.NoteStarted(ctx, c.Lease, id)               // it started: the member's task in the run
//	l.VoidStart(ctx, c.Lease)                     // it surely did not: the member may be claimed again
//	send the task to the pending queue
//	l.NoteEnqueued(ctx, run.ID, dbs)              // it is on the queue
//
// A member Started but not Enqueued (the queue failed, or the holder died
// after the start) is sent again by the next invocation of the run; a
// second copy of a task on the queue is harmless, a task never queued
// would be lost.
//
// A claimed start counts as attempted from the claim on. A holder that dies,
// or that cannot tell whether Security Center started the precheck (the
// answer was lost), calls neither NoteStarted nor VoidStart: once its lease
// lapses the member is Unsure and stays so for the rest of the run, since
// StartPreCheckDatabase is not idempotent and a second start would check the
// database twice.
//
// The run's end reads the membership back with Run (every member, its task
// id when started), and a queued task's claim to belong to a run is checked
// with Memberships: the queue carries data, not authority.
type Runs interface {
	// PlanRun records run (ID, Fleet, Members' identity; PlannedAt is set
	// to now when zero) unless a plan of run.ID is recorded, and returns
	// the recorded plan, without start states: the first plan of a run
	// wins, so every invocation of it starts the same members.
	PlanRun(ctx context.Context, run Run) (Run, error)
	// Run returns run id's plan with each member's start state and task
	// id, and whether the run is recorded at all.
	Run(ctx context.Context, id string) (Run, bool, error)
	// ClaimStart reports database's start in run: Started with its task
	// id, Starting while another holder's lease is live, Unsure when an
	// earlier attempt's outcome is unknown, or else records the attempt,
	// takes a lease for ttl and reports StartClaimed.
	ClaimStart(ctx context.Context, run, database string, ttl time.Duration) (StartClaim, error)
	// NoteStarted records that the lease's precheck started as taskID:
	// the member's task in the run, and the task's Membership. It records
	// even when the lease lapsed: the precheck runs. A member's first
	// recorded task is kept.
	NoteStarted(ctx context.Context, lease StartLease, taskID string) error
	// VoidStart records that the lease's precheck surely did not start:
	// the member is Unstarted again, and the lease is dropped.
	VoidStart(ctx context.Context, lease StartLease) error
	// NoteEnqueued records that the tasks of run's started databases were
	// sent to the pending queue.
	NoteEnqueued(ctx context.Context, run string, databases []string) error
	// Memberships returns, by task id, the membership of those tasks that
	// were started for a run.
	Memberships(ctx context.Context, taskIDs []string) (map[string]Membership, error)
}

// checkRunID reports a run id that is empty, too long, or not plain.
func checkRunID(id string) error {
	if !plain(id) || len(id) > MaxRunIDLen {
		return fmt.Errorf("ledger: run id %q is not 1 to %d letters, digits, '.', '_' or '-'", id, MaxRunIDLen)
	}
	return nil
}

func checkPlan(run Run) error {
	if err := checkRunID(run.ID); err != nil {
		return err
	}
	seen := make(map[string]bool, len(run.Members))
	for _, m := range run.Members {
		switch {
		case m.Database == "":
			return fmt.Errorf("ledger: run %s has a member without a database", run.ID)
		case seen[m.Database]:
			return fmt.Errorf("ledger: run %s lists database %q twice", run.ID, m.Database)
		}
		seen[m.Database] = true
	}
	return nil
}

func checkStart(run, database string) error {
	if err := checkRunID(run); err != nil {
		return err
	}
	if database == "" {
		return errors.New("ledger: start without a database")
	}
	return nil
}

func checkDatabases(run string, databases []string) error {
	for _, db := range databases {
		if err := checkStart(run, db); err != nil {
			return err
		}
	}
	return checkRunID(run)
}

func checkStartLease(l StartLease) error {
	if l.token == "" {
		return errors.New("ledger: start lease not obtained from ClaimStart")
	}
	return checkStart(l.Run, l.Database)
}

// planOf is a run's plan as PlanRun records it: identity only.
func planOf(run Run, now time.Time) Run {
	p := Run{ID: run.ID, Fleet: run.Fleet, PlannedAt: run.PlannedAt, Members: make([]Member, len(run.Members))}
	if p.PlannedAt.IsZero() {
		p.PlannedAt = now
	}
	p.PlannedAt = p.PlannedAt.UTC().Truncate(time.Millisecond)
	for i, m := range run.Members {
		m.Start, m.TaskID, m.Enqueued = Unstarted, "", false
		p.Members[i] = m
	}
	return p
}
