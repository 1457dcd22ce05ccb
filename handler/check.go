package handler

import (
	"context"
	"fmt"
	"time"

	"precheckwatch/dedupe"
	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// jobKind is what a checked message turned out to need.
type jobKind int

const (
	requeueJob    jobKind = iota // back on the queue after delay, with new bookkeeping
	finishedJob                  // a verdict to deliver, then done (or back on the queue for undelivered channels)
	holdJob                      // unchanged, back on the queue after delay (credentials trouble, or out of time)
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

	// handoff is held while an event's message is being handed on, so that
	// a retried event does not requeue the same message twice.
	handoff *dedupe.Lease

	task  precheck.Task
	kind  jobKind
	delay time.Duration
	// why explains a dead letter or a hold, for logs.
	why string
}

// check parses a job's task, asks Security Center about it and decides.
func (r *run) check(ctx context.Context, j *job) {
	log := r.log.With("messageId", j.msg.ID)
	if !r.claimHandoff(ctx, j) {
		return
	}
	if j.problem != "" {
		j.kind, j.why = deadLetterJob, j.problem
		log.Warn("unreadable event entry", "reason", j.problem)
		return
	}
	task, err := precheck.ParseTask(j.msg.Body)
	if err != nil {
		j.kind, j.why = deadLetterJob, err.Error()
		log.Warn("unreadable task message", "reason", err.Error())
		return
	}
	j.task = task
	r.see(task.TaskID)
	log = log.With("taskId", task.TaskID)
	if task.Final != nil {
		// Only channels are waiting: no need to ask again.
		j.kind = finishedJob
		return
	}
	if !r.h.d.Now().Before(r.times.checkUntil) {
		j.kind, j.delay, j.why = holdJob, 0, "out of time in this invocation"
		return
	}
	firstSight := task.Attempt == 0
	status, err := r.query(ctx, task)
	now := r.h.d.Now()
	var d precheck.Decision
	switch class, code := classOf(err); {
	case err == nil:
		r.tally.add(func(rep *Report) { rep.Checked++ })
		d = precheck.Decide(task, status, now, r.h.policy, r.h.d.Jitter())
	case class == Auth:
		j.kind, j.delay, j.why = holdJob, r.h.cfg.BackoffMax, "Security Center refused our credentials: "+code
		log.Warn("task held", "reason", j.why, "delay", j.delay.String())
		return
	case class == Permanent:
		d = precheck.Decision{Action: precheck.Finish, Task: refused(task, now, fmt.Sprintf("Security Center refused the query (%s): %v", code, err))}
	default:
		d = precheck.Unanswered(task, fmt.Sprintf("Security Center did not answer: %s", orWord(code, class.String())), now, r.h.policy, r.h.d.Jitter())
	}
	j.task = d.Task
	if d.Action == precheck.Finish {
		j.kind = finishedJob
		r.tally.add(func(rep *Report) { rep.Finished++; rep.Verdicts[d.Task.Final.Verdict]++ })
		log.Info("task decided", "attempt", d.Task.Attempt, "decision", "finish", "verdict", d.Task.Final.Verdict,
			"progress", d.Task.LastProgress)
		return
	}
	j.kind, j.delay = requeueJob, d.Delay
	log.Info("task decided", "attempt", d.Task.Attempt, "decision", "requeue", "progress", d.Task.LastProgress,
		"delay", d.Delay.Round(time.Millisecond).String())
	if firstSight && r.h.cfg.NotifyStarted {
		r.announceStart(ctx, j)
	}
}

// handoffVerdict marks an event's message as handed on in the delivery record.
const handoffVerdict = "HANDED_ON"

// claimHandoff makes sure a message delivered in an event is handed on by
// one attempt only: EventBridge retries a whole batch when an invocation
// fails, and the messages an earlier attempt already requeued must not be
// requeued again. It reports whether j should be processed.
func (r *run) claimHandoff(ctx context.Context, j *job) bool {
	if !j.fromEvent || j.msg.ID == "" {
		return true
	}
	key := dedupe.Key{TaskID: j.msg.ID, Channel: "queue", Verdict: handoffVerdict}
	sctx, cancel := storeCtx(ctx)
	c, err := r.h.d.Store.Claim(sctx, key, r.leaseTTL())
	cancel()
	switch {
	case err != nil:
		// Without the record a retry may requeue twice; a duplicate
		// task is harmless, a lost one is not.
		r.log.Warn("delivery record unavailable; handing on without it", "messageId", j.msg.ID, "error", err)
		return true
	case c.State == dedupe.Delivered:
		j.kind = skipJob
		r.tally.add(func(rep *Report) { rep.Skipped++ })
		return false
	case c.State == dedupe.Busy:
		// Another attempt at this event is handing it on right now; fail
		// this one so that the platform retries it later.
		j.kind = skipJob
		r.tally.add(func(rep *Report) { rep.Unhanded++ })
		return false
	}
	j.handoff = &c.Lease
	return true
}

// handed records the outcome of handing j on.
func (r *run) handed(ctx context.Context, j *job, ok bool) {
	if j.handoff == nil {
		return
	}
	if ok {
		r.record(ctx, *j.handoff, notify.Outcome{})
	} else {
		r.release(ctx, *j.handoff)
	}
}

// refused finishes a task Security Center will never answer for (a bad
// region or task id): ERROR tells the on-call team, where waiting would not.
func refused(t precheck.Task, now time.Time, reason string) precheck.Task {
	if t.FirstSeen == 0 {
		t.FirstSeen = now.UnixMilli()
	}
	t.Attempt++
	t.Final = &precheck.Outcome{Verdict: precheck.Error, Reason: reason, Progress: t.LastProgress,
		FirstSeen: t.FirstSeen, DecidedAt: now.UnixMilli(), Attempts: t.Attempt}
	return t
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
			return precheck.Status{}, Classify(Transient, "deadline", err)
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
		if class == Auth || class == Permanent {
			return st, err
		}
		wait := retryWait(err, attempt, r.h.d.Jitter())
		if r.h.d.Now().Add(wait).After(r.times.checkUntil) || !sleep(ctx, wait) {
			break
		}
	}
	return precheck.Status{}, lastErr
}

// retryWait is the pause before retry number attempt+1 within an
// invocation: the service's own hint, else 200ms doubling, jittered.
func retryWait(err error, attempt int, jitter float64) time.Duration {
	if ce, ok := err.(*ClassError); ok && ce.RetryAfter > 0 {
		return ce.RetryAfter
	}
	base := 200 * time.Millisecond << attempt
	return base/2 + time.Duration(jitter*float64(base/2))
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
