package precheck

import (
	"fmt"
	"time"
)

// Status is what QueryPreCheckDatabase reports for a task.
type Status struct {
	Progress    int
	Description string // completed | created | error
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
}

// Action is what becomes of a task after a check.
type Action int

// Actions.
const (
	Requeue Action = iota // not done: back on the queue after Delay
	Finish                // done: Task.Final holds the verdict to deliver
)

// String names the action for logs.
func (a Action) String() string {
	if a == Finish {
		return "finish"
	}
	return "requeue"
}

// Decision is what to do with a task, and the task with its bookkeeping
// brought up to date.
type Decision struct {
	Action Action
	Delay  time.Duration
	Task   Task
}

// Decide says what happens to task t after Security Center answered s at
// now. jitter is a uniform random number in [0,1) that spreads requeue delays
// (full jitter); passing it in keeps Decide pure.
func Decide(t Task, s Status, now time.Time, p Policy, jitter float64) Decision {
	t = seen(t, now)
	t.LastProgress = min(max(s.Progress, 0), 100)
	switch {
	case s.Description == DescError:
		return finish(t, now, Outcome{Verdict: Error, Reason: "Security Center reports the precheck failed (Description=error)"})
	case s.Description == DescCompleted && s.Progress >= 100:
		instances, err := ParseResult(s.Result)
		if err != nil {
			return finish(t, now, Outcome{Verdict: Error, Reason: fmt.Sprintf("the precheck completed but its Result is unreadable: %v", err)})
		}
		o := Outcome{Verdict: verdictOf(instances), Instances: instances}
		if len(instances) == 0 {
			o.Reason = "the precheck completed without reporting any instance"
		}
		return finish(t, now, o)
	}
	return wait(t, now, p, jitter, "no verdict")
}

// Unanswered says what happens to task t when Security Center could not be
// asked (throttling, 5xx, network): it waits like a running task, and times
// out like one, with reason saying what went wrong.
func Unanswered(t Task, reason string, now time.Time, p Policy, jitter float64) Decision {
	return wait(seen(t, now), now, p, jitter, reason)
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

func seen(t Task, now time.Time) Task {
	if t.FirstSeen == 0 {
		t.FirstSeen = now.UnixMilli()
	}
	t.Attempt++
	return t
}

func wait(t Task, now time.Time, p Policy, jitter float64, reason string) Decision {
	deadline := t.FirstSeenTime().Add(p.Deadline)
	if !now.Before(deadline) {
		return finish(t, now, Outcome{
			Verdict: TimedOut,
			Reason:  fmt.Sprintf("no verdict within %s (%s)", p.Deadline, reason),
		})
	}
	delay := Backoff(t.Attempt, p, jitter)
	// Check once more right at the deadline rather than long after it.
	if left := deadline.Sub(now); delay > left {
		delay = max(left, time.Second)
	}
	return Decision{Action: Requeue, Delay: delay, Task: t}
}

func finish(t Task, now time.Time, o Outcome) Decision {
	o.Progress = t.LastProgress
	o.FirstSeen = t.FirstSeen
	o.DecidedAt = now.UnixMilli()
	o.Attempts = t.Attempt
	t.Final = &o
	return Decision{Action: Finish, Task: t}
}
