package handler

import (
	"context"
	"sync"
	"time"

	"precheckwatch/failure"
	"precheckwatch/ledger"
	"precheckwatch/precheck"
)

// jobKind is what a checked message turned out to need.
type jobKind int

const (
	requeueJob    jobKind = iota // back on the queue after delay, checked again
	finishedJob                  // a sealed verdict to deliver
	redeliverJob                 // delivered on some channels only: back on the queue after delay for the rest
	doneJob                      // every channel has the verdict: the message goes
	holdJob                      // unchanged, back on the queue after delay (credentials trouble, no record, or out of time)
	deadLetterJob                // unreadable: to the dead-letter queue verbatim
	skipJob                      // handed on already, by an earlier attempt at the same event
)

// job is one message on its way through an invocation.
type job struct {
	msg Message
	// raw is what goes to the dead-letter queue if the message is unreadable.
	raw []byte
	// problem says why an event's CloudEvent was unreadable.
	problem string
	// fromEvent marks messages delivered inside the event: EventBridge
	// deletes them when the invocation succeeds, so they have no handle and
	// every outcome but "done" means sending a message.
	fromEvent bool

	// handOn is held while an event's message is being handed on, so that
	// a retried event does not requeue the same message twice.
	handOn *ledger.Lease

	task precheck.Task
	// parsed is the task as the message carried it, before its fate.
	parsed precheck.Task
	// group is the page the job was prepared in, if any.
	group *group
	// unsealed marks a finished job whose verdict waits to be sealed.
	unsealed bool
	// quiet marks a finished fleet task whose verdict is not posted on its
	// own (NOTIFY_MODE=changes, unchanged): its run's summary shows it.
	quiet bool
	// unreadable says why the body is not a task, once prepared.
	unreadable error
	// record is what the ledger knows of the task, and recallErr why it
	// could not be read.
	record    ledger.TaskRecord
	recallErr error
	// outcome is the sealed verdict of a finished job.
	outcome *precheck.Outcome
	// forgotten marks a task the ledger has no record of though the message
	// shows it was handled before (checked, or handed out, already): the
	// record was lost (a Redis restarted empty, a memory:// instance
	// recycled), so its verdicts may have gone out and are settled through
	// the channels before they are sent.
	forgotten bool
	// reached marks a job whose verdict this invocation reached.
	reached bool
	kind    jobKind
	delay   time.Duration
	// progress is the precheck's progress as last checked.
	progress int
	// why explains a dead letter or a hold, for logs.
	why string

	mu sync.Mutex
	// channels is how many channels report on a finished job, heard those
	// that have, and missing those that reported it undelivered.
	channels int
	heard    map[string]bool
	missing  []string
}

// A page of messages (a receive's batch, or a share of an event's) is
// prepared before its messages are checked: each body is parsed and, in one
// call each, the hand-on of an event's messages is claimed and the tasks'
// records are recalled, so a page costs two round trips to the record, not
// two a message.
func (r *run) prepare(ctx context.Context, page []*job) {
	newGroup(page)
	r.claimHandOns(ctx, page)
	var ids []string
	var tasks []*job
	for _, j := range page {
		if j.kind == skipJob || j.problem != "" {
			continue
		}
		if j.task, j.unreadable = precheck.ParseTask(j.msg.Body); j.unreadable == nil {
			ids, tasks = append(ids, j.task.TaskID), append(tasks, j)
		}
	}
	if len(ids) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	recs, err := r.h.d.Ledger.Recall(sctx, ids, r.h.d.Now())
	cancel()
	if err != nil {
		r.ledgerError("recall", err)
	}
	for i, j := range tasks {
		if err != nil {
			j.recallErr = err
			continue
		}
		j.record = recs[i]
	}
}

// check asks Security Center about a prepared job's task unless its
// verdict is sealed, and carries out the fate precheck.Decide gives it.
func (r *run) check(ctx context.Context, j *job) {
	log := r.log.With("messageId", j.msg.ID)
	switch {
	case j.kind == skipJob:
		return
	case j.problem != "":
		j.kind, j.why = deadLetterJob, j.problem
		log.Warn("unreadable event entry", "reason", j.problem)
		return
	case j.unreadable != nil:
		j.kind, j.why = deadLetterJob, j.unreadable.Error()
		log.Warn("unreadable task message", "reason", j.why)
		return
	}
	task := j.task
	j.parsed = task
	r.see(task.TaskID)
	log = log.With("taskId", task.TaskID)
	if j.recallErr != nil {
		// Without the record the task can be neither timed nor delivered
		// safely: keep it as it is until the record is back.
		r.holdUnrecorded(j, "the delivery record is unreachable")
		return
	}

	now := r.h.d.Now()
	facts := precheck.Facts{Task: task, Now: now, Jitter: r.h.d.Jitter()}
	recs := j.record
	j.forgotten = !recs.FirstSeen.Before(r.start.Truncate(time.Millisecond)) && (task.Attempt > 0 || j.msg.DequeueCount > 1)
	facts.FirstSeen, facts.Sealed, facts.Retired, facts.Requeued = recs.FirstSeen, recs.Outcome, recs.Done, recs.Requeued
	if facts.Sealed == nil && !facts.Retired && task.Attempt >= recs.Requeued {
		facts.Reply = r.ask(ctx, task)
	}
	fate := precheck.Decide(facts, r.h.cfg.Policy)
	r.apply(j, fate)
	// A new verdict is sealed with its page's (decided).
	j.unsealed = fate.Action == precheck.Deliver && facts.Sealed == nil
	j.reached = j.unsealed
	if j.kind == finishedJob || j.kind == requeueJob {
		r.tally.add(func(rep *Report) { span(&rep.Timeline.FirstDecided, &rep.Timeline.LastDecided, now) })
	}
	switch j.kind {
	case finishedJob:
		log.Info("task decided", "attempt", fate.Task.Attempt, "decision", "finish", "verdict", j.outcome.Verdict,
			"progress", j.outcome.Progress)
	case requeueJob:
		log.Info("task decided", "attempt", fate.Task.Attempt, "decision", "requeue", "progress", fate.Progress, "reason", fate.Reason,
			"delay", fate.Delay.Round(time.Millisecond).String())
		if recs.New && r.h.cfg.NotifyStarted {
			r.announceStart(ctx, j)
		}
	case holdJob:
		log.Warn("task held", "reason", j.why, "delay", j.delay.String())
	case doneJob:
		r.tally.add(func(rep *Report) { rep.Stale++ })
		log.Info("stale message dropped", "attempt", task.Attempt, "requeued", recs.Requeued, "reason", j.why)
	}
}

// apply makes a fate the job's next step.
func (r *run) apply(j *job, f precheck.Fate) {
	j.task, j.delay, j.why, j.outcome, j.progress = f.Task, f.Delay, f.Reason, f.Outcome, f.Progress
	switch f.Action {
	case precheck.Requeue:
		j.kind = requeueJob
	case precheck.Redeliver:
		j.kind = redeliverJob
	case precheck.Done:
		j.kind = doneJob
	case precheck.Hold:
		j.kind = holdJob
	case precheck.Deliver:
		j.kind = finishedJob
	}
}

// ask queries Security Center about t unless the invocation's check time is
// over, and says how it answered.
func (r *run) ask(ctx context.Context, t precheck.Task) precheck.Reply {
	if !r.h.d.Now().Before(r.times.checkUntil) {
		return precheck.Reply{Kind: precheck.NotAsked, Reason: "out of time in this invocation"}
	}
	status, err := r.query(ctx, t)
	switch class, code := classOf(err); {
	case err == nil:
		r.tally.add(func(rep *Report) { rep.Checked++ })
		return precheck.Answer(status)
	case class == failure.Auth:
		return precheck.Reply{Kind: precheck.Denied, Reason: "Security Center refused our credentials: " + code}
	case class == failure.Permanent:
		return precheck.Reply{Kind: precheck.Refused, Reason: err.Error()}
	default:
		return precheck.Reply{Kind: precheck.Unanswered, Reason: orWord(code, class.String())}
	}
}

// claimHandOns makes sure a message delivered in an event is handed on by
// one attempt only: EventBridge retries a whole batch when an invocation
// fails, and the messages an earlier attempt already requeued must not be
// requeued again. A message it may not handle becomes a skipJob.
func (r *run) claimHandOns(ctx context.Context, page []*job) {
	// DecodeEvent keeps one of a message delivered twice in an event, so
	// the page's ids are distinct.
	var ids []string
	var claimed []*job
	for _, j := range page {
		if j.fromEvent && j.msg.ID != "" {
			ids, claimed = append(ids, j.msg.ID), append(claimed, j)
		}
	}
	if len(ids) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	cs, err := ledger.ClaimHandOn(sctx, r.h.d.Ledger, ids, r.leaseTTL())
	cancel()
	if err != nil {
		// Without the record a retry may requeue twice; a duplicate
		// message is harmless (the record decides what it posts), a lost
		// one is not.
		r.ledgerError("claim hand-on", err)
		return
	}
	for i, j := range claimed {
		switch cs[i].State {
		case ledger.Sent:
			j.kind = skipJob
			r.tally.add(func(rep *Report) { rep.Skipped++ })
		case ledger.Busy:
			// Another attempt at this event is handing it on right now;
			// fail this one so that the platform retries it later.
			j.kind = skipJob
			r.tally.add(func(rep *Report) { rep.NotHandedOn++ })
		default:
			j.handOn = &cs[i].Lease
		}
	}
}

// handed records the outcome of handing jobs on, in one call for all of
// them: those an event delivered are marked handed on, or released when
// they could not be.
func (r *run) handed(ctx context.Context, jobs []*job, ok bool) {
	var leases []ledger.Lease
	for _, j := range jobs {
		if j.handOn != nil {
			leases = append(leases, *j.handOn)
		}
	}
	if len(leases) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	var err error
	if ok {
		err = ledger.MarkHandedOn(sctx, r.h.d.Ledger, leases)
	} else {
		err = r.h.d.Ledger.Release(sctx, leases)
	}
	if err != nil {
		r.ledgerError("record hand-on", err)
	}
}

// queryAttempts bounds the retries of one query within an invocation.
const queryAttempts = 3

// queryTimeout bounds one query, so that a call that hangs costs a retry,
// not the invocation: an answer takes well under a second.
const queryTimeout = 3 * time.Second

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// query asks Security Center under the rate limit, retrying transient
// failures while the invocation's check time allows.
func (r *run) query(ctx context.Context, t precheck.Task) (precheck.Status, error) {
	var lastErr error
	for attempt := 0; attempt < queryAttempts; attempt++ {
		if err := r.h.limiter.Wait(ctx); err != nil {
			return precheck.Status{}, &failure.Error{Service: "sas", Op: "QueryPreCheckDatabase", Class: failure.Transient,
				Message: "out of time waiting for the rate limit", Err: err}
		}
		cctx, cancel := context.WithDeadline(ctx, earliest(r.times.callUntil, r.h.d.Now().Add(queryTimeout)))
		st, err := r.h.d.Checker.Query(cctx, r.inv, t)
		cancel()
		if err == nil {
			return st, nil
		}
		lastErr = err
		r.serviceError("sas", "QueryPreCheckDatabase", err)
		class, _ := classOf(err)
		if !class.Retryable() {
			return st, err
		}
		wait := retryWait(attempt, r.h.d.Jitter())
		if r.h.d.Now().Add(wait).After(r.times.checkUntil) || !sleep(ctx, wait) {
			break
		}
	}
	return precheck.Status{}, lastErr
}

// retryWait is the pause before retry number attempt+1 within an
// invocation: 200ms doubling, jittered. Security Center gives no retry
// hint, not even when it throttles.
func retryWait(attempt int, jitter float64) time.Duration {
	base := 200 * time.Millisecond << attempt
	return base/2 + time.Duration(jitter*float64(base/2))
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
