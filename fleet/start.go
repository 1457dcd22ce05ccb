package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"precheckwatch/failure"
	"precheckwatch/ledger"
	"precheckwatch/precheck"
	"precheckwatch/queue"
	"precheckwatch/sas"
	"precheckwatch/secret"
)

// SecurityCenter lists the databases registered for backup and starts
// their prechecks; a *sas.Client is one.
type SecurityCenter interface {
	DescribeDatabases(ctx context.Context, creds secret.Credentials, q sas.DatabaseQuery, paging sas.Paging) ([]sas.Database, error)
	StartPreCheck(ctx context.Context, creds secret.Credentials, databaseType, uniRegionID, instanceUUID string) (string, error)
}

// Queue is the pending queue the started tasks go to; a *queue.Queue is
// one.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Outgoing) error
}

// Starter starts fleet runs. Its fields are required unless noted.
type Starter struct {
	SAS         SecurityCenter
	Credentials secret.Credentials
	Queue       Queue
	Runs        ledger.Runs
	// Limit paces every Security Center call (SAS_RATE_LIMIT); nil: none.
	Limit *rate.Limiter
	// Concurrency is how many starts are in flight at once; 0 means 4.
	Concurrency int
	// CallTimeout bounds one Security Center call (a start, a page of the
	// fleet's listing); 0 means 10s.
	CallTimeout time.Duration
	// Log may be nil.
	Log *slog.Logger
}

// Request is one invocation of a run.
type Request struct {
	Spec Spec
	// RunID names the run; "" derives it from Spec and Scheduled (see
	// Spec.RunID).
	RunID     string
	Scheduled time.Time
	// DryRun lists and plans the run without recording or starting
	// anything (a run already recorded is shown as it stands).
	DryRun bool
}

// Result is what one invocation of a run did.
type Result struct {
	// Run is the run's plan with each member's start as this invocation
	// left it.
	Run ledger.Run
	// Resumed reports that an earlier invocation recorded the plan.
	Resumed bool
	// Listed counts the databases Security Center listed in the fleet's
	// regions and types before the name pattern (0 when Resumed).
	Listed int
	// Started lists the databases this invocation started a precheck on.
	Started []string
	// Enqueued counts the tasks this invocation sent to the queue,
	// including those started by an earlier one that had not sent them.
	Enqueued int
	// Failed lists the members left unstarted by an error, with it.
	Failed []MemberError
	// Left counts the members not tried for want of time.
	Left int
}

// MemberError is why a member was left unstarted, or unsure.
type MemberError struct {
	Database string
	Err      error
}

// Count reports how many members stand in state.
func (r Result) Count(state ledger.StartState) int {
	n := 0
	for _, m := range r.Run.Members {
		if m.Start == state {
			n++
		}
	}
	return n
}

// Done reports whether another invocation of the run has nothing left to
// do: every member's task is on the queue, or its start is unsure (and is
// never repeated).
func (r Result) Done() bool {
	for _, m := range r.Run.Members {
		if m.Start != ledger.Unsure && (m.Start != ledger.Started || !m.Enqueued) {
			return false
		}
	}
	return true
}

// ErrIncomplete is returned when members remain to be started or
// enqueued that another invocation of the same run may handle.
var ErrIncomplete = errors.New("fleet run incomplete: invoke the same run again to start the rest")

const (
	defaultConcurrency = 4
	defaultCallTimeout = 10 * time.Second
	// enqueueReserve is the time kept, at the end of an invocation, to
	// send the started tasks to the queue.
	enqueueReserve = 5 * time.Second
	// startAttempts bounds the tries of one member's start that surely
	// failed for a passing reason (throttling, a service not answering).
	startAttempts = 4
	// pageAttempts bounds the requests of one page of the fleet's listing
	// that failed for a passing reason; the invocation's deadline bounds
	// them too.
	pageAttempts = 8
	sendBatch    = 16
)

// Start runs one invocation of the run req names: it plans the run (the
// fleet as Security Center lists it now, unless an earlier invocation
// recorded the plan), sends the tasks an earlier invocation started but
// did not enqueue, and starts every member not started yet, each task
// enqueued with its run. It returns ErrIncomplete (with the Result) when
// members remain that another invocation may start.
func (s *Starter) Start(ctx context.Context, req Request) (Result, error) {
	spec, err := req.Spec.Normalize()
	if err != nil {
		return Result{}, err
	}
	id := req.RunID
	if id == "" {
		if req.Scheduled.IsZero() {
			return Result{}, errors.New("fleet: a run needs an id or a scheduled time")
		}
		id = spec.RunID(req.Scheduled)
	}
	if err := CheckRunID(id); err != nil {
		return Result{}, err
	}
	log := s.log().With("run", id)
	var res Result
	run, recorded, err := s.Runs.Run(ctx, id)
	if err != nil {
		return res, fmt.Errorf("fleet: read run %s: %w", id, err)
	}
	res.Resumed = recorded
	if !recorded {
		members, listed, err := s.plan(ctx, spec)
		res.Listed = listed
		if err != nil {
			return res, err
		}
		plan := ledger.Run{ID: id, Fleet: spec.String(), Members: members}
		if req.DryRun {
			res.Run = plan
			return res, nil
		}
		if _, err := s.Runs.PlanRun(ctx, plan); err != nil {
			return res, fmt.Errorf("fleet: record the plan of run %s: %w", id, err)
		}
		// Another instance may have planned it first, and started some.
		if run, _, err = s.Runs.Run(ctx, id); err != nil {
			return res, fmt.Errorf("fleet: read run %s: %w", id, err)
		}
		log.Info("fleet run planned", "fleet", run.Fleet, "listed", listed, "members", len(run.Members))
	}
	res.Run = run
	if req.DryRun {
		return res, nil
	}

	var unsent []precheck.Task
	var unstarted []ledger.Member
	for _, m := range run.Members {
		switch {
		case m.Start == ledger.Started && !m.Enqueued:
			unsent = append(unsent, taskOf(run.ID, m, m.TaskID))
		case m.Start == ledger.Unstarted:
			unstarted = append(unstarted, m)
		}
	}
	sendErr := s.send(ctx, run.ID, unsent, &res)
	startErr := s.startAll(ctx, run.ID, unstarted, &res)

	// Read back even when the invocation was cut short: the result says
	// what is left.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueReserve)
	defer cancel()
	final, _, err := s.Runs.Run(rctx, id)
	if err != nil {
		return res, fmt.Errorf("fleet: read run %s: %w", id, err)
	}
	res.Run = final
	log.Info("fleet run invocation done", "members", len(final.Members), "started", len(res.Started), "enqueued", res.Enqueued,
		"unsure", res.Count(ledger.Unsure), "failed", len(res.Failed), "left", res.Left)
	if err := errors.Join(startErr, sendErr); err != nil {
		return res, err
	}
	if !res.Done() {
		return res, fmt.Errorf("run %s: %d of %d members started and enqueued: %w", id, len(final.Members)-pending(final), len(final.Members), ErrIncomplete)
	}
	return res, nil
}

// pending counts the members another invocation would still act on.
func pending(run ledger.Run) int {
	n := 0
	for _, m := range run.Members {
		if m.Start != ledger.Unsure && (m.Start != ledger.Started || !m.Enqueued) {
			n++
		}
	}
	return n
}

func (s *Starter) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Starter) pace(ctx context.Context) error {
	if s.Limit == nil {
		return ctx.Err()
	}
	return s.Limit.Wait(ctx)
}

// plan lists the fleet, every region and type it names, and returns its
// members in Database order, and how many databases were listed.
func (s *Starter) plan(ctx context.Context, spec Spec) ([]ledger.Member, int, error) {
	types := spec.Types
	if len(types) == 0 {
		types = []string{""}
	}
	paging := sas.Paging{Pace: s.pace, Attempts: pageAttempts, Timeout: orDefault(s.CallTimeout, defaultCallTimeout)}
	byDatabase := map[string]*ledger.Member{}
	listed := 0
	for _, region := range spec.Regions {
		for _, t := range types {
			dbs, err := s.SAS.DescribeDatabases(ctx, s.Credentials, sas.DatabaseQuery{UniRegionID: region, DatabaseType: t}, paging)
			if err != nil {
				what := region
				if t != "" {
					what += " " + t
				}
				return nil, listed, fmt.Errorf("fleet: list the databases of %s: %w", what, err)
			}
			listed += len(dbs)
			for _, d := range dbs {
				if d.InstanceUUID == "" || !spec.matches(d.DatabaseType, d.InstanceName, d.DatabaseName) {
					continue
				}
				m := memberOf(d)
				if seen := byDatabase[m.Database]; seen != nil {
					seen.Name = joinNames(seen.Name, d.DatabaseName)
					continue
				}
				byDatabase[m.Database] = &m
			}
		}
	}
	members := make([]ledger.Member, 0, len(byDatabase))
	for _, m := range byDatabase {
		members = append(members, *m)
	}
	slices.SortFunc(members, func(a, b ledger.Member) int { return strings.Compare(a.Database, b.Database) })
	distinguish(members)
	return members, listed, nil
}

// distinguish tells apart the members people would know by one name (an
// instance name used in every region, say): each such name gains its
// region, and its backup agent where the region is not enough.
func distinguish(members []ledger.Member) {
	for _, tag := range []func(ledger.Member) string{
		func(m ledger.Member) string { return m.UniRegionID },
		func(m ledger.Member) string { return m.InstanceUUID },
	} {
		named := map[string]int{}
		for _, m := range members {
			named[m.Name]++
		}
		for i, m := range members {
			if m.Name != "" && named[m.Name] > 1 {
				members[i].Name = m.Name + " (" + tag(m) + ")"
			}
		}
	}
}

// memberOf is a listed database as a member. One precheck covers a backup
// agent and database type, so that is the member's identity; its name is
// the instance's, else the database's.
func memberOf(d sas.Database) ledger.Member {
	dbType := databaseTypes[strings.ToUpper(d.DatabaseType)]
	name := d.InstanceName
	if name == "" {
		name = d.DatabaseName
	}
	if name == "" {
		name = d.InstanceID
	}
	return ledger.Member{
		Database:     DatabaseID(d.UniRegionID, d.InstanceUUID, dbType),
		Name:         name,
		DatabaseType: dbType,
		UniRegionID:  d.UniRegionID,
		InstanceUUID: d.InstanceUUID,
	}
}

// DatabaseID is a fleet member's identity across runs: region, backup
// agent and database type, e.g. "cn-hangzhou/5d13e7cf-…/MYSQL".
func DatabaseID(region, instanceUUID, databaseType string) string {
	return region + "/" + instanceUUID + "/" + databaseType
}

// joinNames adds a second database name on the same agent to a member's
// name, once.
func joinNames(name, more string) string {
	if more == "" || name == more || strings.Contains(name, "("+more) || strings.Contains(name, ", "+more) {
		return name
	}
	if strings.HasSuffix(name, ")") {
		return strings.TrimSuffix(name, ")") + ", " + more + ")"
	}
	return name + " (" + more + ")"
}

func taskOf(run string, m ledger.Member, taskID string) precheck.Task {
	return precheck.Task{TaskID: taskID, UniRegionID: m.UniRegionID, InstanceUUID: m.InstanceUUID, DatabaseType: m.DatabaseType, Label: m.Name, Run: run}
}

// startAll starts members, Concurrency at a time, sending the started
// tasks to the queue a batch at a time. It stops starting when the
// invocation's time runs short, or at an error no other member's start
// can escape (credentials, permissions, the ledger).
func (s *Starter) startAll(ctx context.Context, run string, members []ledger.Member, res *Result) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	work := make(chan ledger.Member)
	started := make(chan precheck.Task)
	var mu sync.Mutex // guards res.Failed, res.Left
	var wg sync.WaitGroup
	for range orDefault(s.Concurrency, defaultConcurrency) {
		wg.Go(func() {
			for m := range work {
				task, err := s.startOne(ctx, run, m)
				switch {
				case err == nil && task.TaskID != "":
					started <- task
				case errors.Is(err, errOutOfTime):
					mu.Lock()
					res.Left++
					mu.Unlock()
				case err != nil:
					mu.Lock()
					res.Failed = append(res.Failed, MemberError{Database: m.Database, Err: err})
					mu.Unlock()
					if stopsRun(err) {
						stop(err)
					}
				}
			}
		})
	}
	go func() {
		defer close(work)
		for i, m := range members {
			select {
			case work <- m:
			case <-ctx.Done():
				mu.Lock()
				res.Left += len(members) - i
				mu.Unlock()
				return
			}
		}
	}()
	go func() { wg.Wait(); close(started) }()

	var batch []precheck.Task
	var sendErr error
	for t := range started {
		res.Started = append(res.Started, DatabaseID(t.UniRegionID, t.InstanceUUID, t.DatabaseType))
		if batch = append(batch, t); len(batch) == sendBatch {
			sendErr = errors.Join(sendErr, s.send(context.WithoutCancel(ctx), run, batch, res))
			batch = nil
		}
	}
	sendErr = errors.Join(sendErr, s.send(context.WithoutCancel(ctx), run, batch, res))
	slices.Sort(res.Started)
	slices.SortFunc(res.Failed, func(a, b MemberError) int { return strings.Compare(a.Database, b.Database) })
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return errors.Join(fmt.Errorf("fleet: run %s stopped: %w", run, cause), sendErr)
	}
	return sendErr
}

// orDefault is v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// errOutOfTime marks a member not tried because the invocation's time is
// running out.
var errOutOfTime = errors.New("not enough time left to start another precheck")

// stopsRun reports errors that every other start would meet too.
func stopsRun(err error) bool {
	var fe *failure.Error
	return errors.As(err, &fe) && fe.Class == failure.Auth || errors.Is(err, errLedger)
}

// errLedger marks a failure of the run's record.
var errLedger = errors.New("fleet: the run's record")

// startOne claims and starts member m's precheck, trying again after a
// failure that surely started nothing and may pass. It returns the task,
// or no task and no error when another holder has the start, or an error.
func (s *Starter) startOne(ctx context.Context, run string, m ledger.Member) (precheck.Task, error) {
	timeout := orDefault(s.CallTimeout, defaultCallTimeout)
	for attempt := 1; ; attempt++ {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < timeout+enqueueReserve {
			return precheck.Task{}, errOutOfTime
		}
		if err := s.pace(ctx); err != nil {
			return precheck.Task{}, errOutOfTime
		}
		c, err := s.Runs.ClaimStart(ctx, run, m.Database, 2*timeout+enqueueReserve)
		if err != nil {
			return precheck.Task{}, fmt.Errorf("%w: claim the start of %s: %w", errLedger, m.Database, err)
		}
		if c.State != ledger.StartClaimed {
			return precheck.Task{}, nil // started, being started, or unsure: not this holder's
		}
		// Once sent, a start's answer is worth its wait even when the
		// invocation is being cut short: without it the member is unsure.
		// The reserve above keeps the call inside the invocation's deadline.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		taskID, err := s.SAS.StartPreCheck(callCtx, s.Credentials, m.DatabaseType, m.UniRegionID, m.InstanceUUID)
		cancel()
		if err == nil {
			task := taskOf(run, m, taskID)
			if err := s.Runs.NoteStarted(context.WithoutCancel(ctx), c.Lease, taskID); err != nil {
				// The precheck runs: queue it all the same. Its membership
				// is missing, so the run counts the member unsure.
				s.log().Error("fleet: precheck started but not recorded", "run", run, "database", m.Database, "taskId", taskID, "error", err)
			}
			return task, nil
		}
		if !surelyNotStarted(err) {
			// The lease lapses into Unsure: never started twice.
			s.log().Warn("fleet: precheck start unsure", "run", run, "database", m.Database, "error", err)
			return precheck.Task{}, fmt.Errorf("start of %s may or may not have happened, so it is not repeated in this run: %w", m.Database, err)
		}
		if verr := s.Runs.VoidStart(context.WithoutCancel(ctx), c.Lease); verr != nil {
			return precheck.Task{}, fmt.Errorf("%w: void the start of %s: %w", errLedger, m.Database, verr)
		}
		if !failure.ClassOf(err).Retryable() || attempt == startAttempts {
			return precheck.Task{}, fmt.Errorf("start %s: %w", m.Database, err)
		}
		if werr := wait(ctx, failure.Backoff(err, attempt)); werr != nil {
			return precheck.Task{}, errOutOfTime
		}
	}
}

// surelyNotStarted reports a failed StartPreCheckDatabase that cannot have
// started a precheck: refused by the gateway (throttling, credentials,
// permissions, a bad parameter, its 503), or never sent (no connection).
// Anything else (a 500 from behind the gateway, a timeout, a connection
// lost mid-answer) may have started one.
func surelyNotStarted(err error) bool {
	var fe *failure.Error
	if !errors.As(err, &fe) {
		return false
	}
	switch {
	case fe.Class == failure.Throttled, fe.Class == failure.Auth, fe.Class == failure.Permanent:
		return true
	case fe.Code == "ServiceUnavailable":
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send puts tasks on the pending queue and records those sent.
func (s *Starter) send(ctx context.Context, run string, tasks []precheck.Task, res *Result) error {
	if len(tasks) == 0 {
		return nil
	}
	msgs := make([]queue.Outgoing, len(tasks))
	for i, t := range tasks {
		body, err := t.Encode()
		if err != nil {
			return err
		}
		msgs[i] = queue.Outgoing{Body: string(body)}
	}
	sendErr := s.Queue.Send(ctx, msgs)
	failed := map[int]bool{}
	var be *queue.BatchError
	switch {
	case errors.As(sendErr, &be):
		for _, f := range be.Failures {
			failed[f.Index] = true
		}
	case sendErr != nil:
		for i := range tasks {
			failed[i] = true
		}
	}
	var sent []string
	for i, t := range tasks {
		if !failed[i] {
			sent = append(sent, DatabaseID(t.UniRegionID, t.InstanceUUID, t.DatabaseType))
		}
	}
	res.Enqueued += len(sent)
	if err := s.Runs.NoteEnqueued(ctx, run, sent); err != nil {
		// Unmarked, they are sent again by the next invocation: a copy,
		// not a loss.
		sendErr = errors.Join(sendErr, fmt.Errorf("fleet: record enqueued tasks of run %s: %w", run, err))
	}
	if sendErr != nil {
		return fmt.Errorf("fleet: send %d of %d started tasks to the queue: %w", len(failed), len(tasks), sendErr)
	}
	return nil
}
