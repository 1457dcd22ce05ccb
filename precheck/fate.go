package precheck

import (
	"fmt"
	"time"
)

// Status is what QueryPreCheckDatabase reports for a task.
type Status struct {
	Progress    int
	Description string // completed | created | error; empty for a task Security Center does not know
	Result      string
}

// Descriptions Security Center reports.
const (
	DescCompleted = "completed"
	DescCreated   = "created"
	DescError     = "error"
)

// Policy is the backoff and deadline configuration.
type Policy struct {
	BackoffInitial time.Duration // first requeue delay, and the floor of every delay
	BackoffMax     time.Duration // ceiling of every delay
	Deadline       time.Duration // from first seen to giving up as TIMED_OUT
	// UnknownGrace is how long a task Security Center does not know is
	// asked about again before it ends as ERROR.
	UnknownGrace time.Duration
}

// ReplyKind is how Security Center answered a query, or why it was not asked.
type ReplyKind int

// Reply kinds.
const (
	NotAsked   ReplyKind = iota // no query: the invocation had no time left
	Answered                    // Reply.Status holds the answer
	Unanswered                  // throttled, 5xx, network: ask again later
	Refused                     // a request Security Center will never accept (bad region or task id)
	Denied                      // our credentials or permissions were refused
)

// Reply is Security Center's answer to one query.
type Reply struct {
	Kind   ReplyKind
	Status Status
	// Reason says what went wrong, for every kind but Answered: for
	// Refused and Unanswered Security Center's own error, which a verdict
	// shows verbatim.
	Reason string
}

// Answer is the Reply of a query Security Center answered with s.
func Answer(s Status) Reply { return Reply{Kind: Answered, Status: s} }

// Facts is everything known about a task when its fate is decided: the
// message (data only: its producer's fields and how often it was checked),
// the delivery record's memory of it, and what Security Center said.
type Facts struct {
	Task Task
	// FirstSeen is when the function first saw the task, from the record.
	FirstSeen time.Time
	// Sealed is the task's outcome as first decided, from the record.
	Sealed *Outcome
	// Retired reports that the record keeps only that every channel has
	// the task's verdict: the task is done.
	Retired bool
	// Requeued is the check count of the task's newest message put back on
	// the queue, from the record: a message with a lower one is a stale
	// copy (its delete failed after its successor was sent).
	Requeued int
	Reply    Reply
	// Delivery is set once the sealed outcome was offered to every channel.
	Delivery *Delivery
	Now      time.Time
	// Jitter is a uniform random number in [0,1) that spreads delays (full
	// jitter); passing it in keeps Decide pure.
	Jitter float64
}

// Delivery is how the channels took a sealed outcome.
type Delivery struct {
	// Missing lists the channels that still lack it.
	Missing []string
}

// Action is what becomes of a task.
type Action int

// Actions.
const (
	// Requeue: not done; check again after Delay.
	Requeue Action = iota
	// Hold: nothing learnt; keep the message as it is for Delay.
	Hold
	// Deliver: post Outcome to every channel that lacks it; seal it first.
	Deliver
	// Redeliver: some channels still lack Outcome; try them after Delay.
	Redeliver
	// Done: every channel has the verdict; the message can go.
	Done
)

// String names the action for logs.
func (a Action) String() string {
	switch a {
	case Requeue:
		return "requeue"
	case Hold:
		return "hold"
	case Deliver:
		return "deliver"
	case Redeliver:
		return "redeliver"
	case Done:
		return "done"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Fate is what becomes of a task, and the task with its check count
// brought up to date.
type Fate struct {
	Action Action
	Delay  time.Duration
	// Outcome is the verdict to deliver, for Deliver and Redeliver.
	Outcome *Outcome
	Task    Task
	// Progress is the progress Security Center reported, if it answered.
	Progress int
	// Reason explains a Hold or a Requeue, for logs.
	Reason string
}

// Decide says what becomes of a task, every case in one place: a message
// of a retired task or a stale copy of its message goes, a verdict already sealed is delivered (or, once delivered, done or redelivered to
// the channels that lack it); otherwise Security Center's answer decides —
// finished, running, past the deadline, refused, unknown, or unanswered.
func Decide(f Facts, p Policy) Fate {
	t := f.Task
	if f.Retired {
		return Fate{Action: Done, Task: t, Reason: "every channel has the task's verdict already"}
	}
	if f.Delivery == nil && t.Attempt < f.Requeued {
		return Fate{Action: Done, Task: t, Reason: "a newer message of the task is on the queue"}
	}
	if f.Sealed != nil {
		switch {
		case f.Delivery == nil:
			return Fate{Action: Deliver, Outcome: f.Sealed, Task: t}
		case len(f.Delivery.Missing) == 0:
			return Fate{Action: Done, Outcome: f.Sealed, Task: t}
		}
		t.Attempt++
		return Fate{Action: Redeliver, Delay: Backoff(t.Attempt, p, f.Jitter), Outcome: f.Sealed, Task: t,
			Reason: fmt.Sprintf("%d channels still lack the verdict", len(f.Delivery.Missing))}
	}
	switch f.Reply.Kind {
	case NotAsked:
		return Fate{Action: Hold, Task: t, Reason: f.Reply.Reason}
	case Denied:
		return Fate{Action: Hold, Delay: p.BackoffMax, Task: t, Reason: f.Reply.Reason}
	}
	t.Attempt++
	progress := 0
	switch f.Reply.Kind {
	case Refused:
		return finish(f, t, progress, Outcome{Verdict: Error, Cause: CauseRefused, Detail: f.Reply.Reason})
	case Unanswered:
		return wait(f, t, progress, p, Outcome{Cause: CauseUnanswered, Detail: f.Reply.Reason},
			"Security Center did not answer: "+f.Reply.Reason)
	}
	s := f.Reply.Status
	progress = min(max(s.Progress, 0), 100)
	switch {
	case s.Description == DescError:
		return finish(f, t, progress, Outcome{Verdict: Error, Cause: CauseFailed})
	case s.Description == DescCompleted && s.Progress >= 100:
		instances, err := ParseResult(s.Result)
		if err != nil {
			return finish(f, t, progress, Outcome{Verdict: Error, Cause: CauseUnreadable, Detail: err.Error()})
		}
		o := Outcome{Verdict: verdictOf(instances), Instances: instances}
		if len(instances) == 0 {
			o.Cause = CauseNoInstances
		}
		return finish(f, t, progress, o)
	case s.Description == "":
		return unknown(f, t, p)
	}
	return wait(f, t, progress, p, Outcome{Cause: CauseStillRunning}, "no verdict")
}

// Backoff is the delay before the check numbered attempt (1 for the first
// requeue): a full-jitter draw between BackoffInitial and a ceiling that
// doubles with each attempt up to BackoffMax.
func Backoff(attempt int, p Policy, jitter float64) time.Duration {
	floor, ceiling := p.BackoffInitial, p.BackoffInitial
	for i := 1; i < attempt && ceiling < p.BackoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.BackoffMax)
	if ceiling <= floor {
		return max(ceiling, 0)
	}
	return floor + time.Duration(jitter*float64(ceiling-floor))
}

// wait requeues a task without a verdict until its deadline, then times it
// out with why's cause; reason says why there is no verdict, for logs.
func wait(f Facts, t Task, progress int, p Policy, why Outcome, reason string) Fate {
	deadline := f.FirstSeen.Add(p.Deadline)
	if !f.Now.Before(deadline) {
		why.Verdict, why.Deadline = TimedOut, p.Deadline
		return finish(f, t, progress, why)
	}
	return requeue(f, t, progress, p, deadline, reason)
}

// unknown asks again about a task Security Center does not know (it may
// not know it yet) until the grace ends, then ends it as ERROR.
func unknown(f Facts, t Task, p Policy) Fate {
	until := f.FirstSeen.Add(min(p.UnknownGrace, p.Deadline))
	if !f.Now.Before(until) {
		return finish(f, t, 0, Outcome{Verdict: Error, Cause: CauseUnknownTask})
	}
	return requeue(f, t, 0, p, until, "Security Center knows no such task yet")
}

// requeue checks again after the backoff, or right at until rather than
// long after it.
func requeue(f Facts, t Task, progress int, p Policy, until time.Time, reason string) Fate {
	delay := Backoff(t.Attempt, p, f.Jitter)
	if left := until.Sub(f.Now); delay > left {
		delay = max(left, time.Second)
	}
	return Fate{Action: Requeue, Delay: delay, Task: t, Progress: progress, Reason: reason}
}

func finish(f Facts, t Task, progress int, o Outcome) Fate {
	o.Progress = progress
	o.FirstSeen = f.FirstSeen.UnixMilli()
	o.DecidedAt = f.Now.UnixMilli()
	o.Attempts = t.Attempt
	return Fate{Action: Deliver, Outcome: &o, Task: t, Progress: progress}
}
