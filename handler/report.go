package handler

import (
	"slices"
	"sync"
	"time"

	"precheckwatch/precheck"
)

// Report is the invocation's JSON answer: what came in and what became of it.
type Report struct {
	RequestID string  `json:"requestId,omitempty"`
	Trigger   Trigger `json:"trigger"`
	// Received counts the messages taken from the queue or the event.
	Received int `json:"received"`
	// Checked counts Security Center queries answered.
	Checked int `json:"checked"`
	// Finished counts tasks that reached a verdict this invocation.
	Finished int                      `json:"finished"`
	Verdicts map[precheck.Verdict]int `json:"verdicts,omitempty"`
	// Requeued counts tasks put back on the queue to be checked again.
	Requeued int `json:"requeued"`
	// Redelivering counts finished tasks put back on the queue because a
	// channel still lacks their verdict.
	Redelivering int `json:"redelivering"`
	// Skipped counts messages already handed on by an earlier attempt of
	// this event.
	Skipped int `json:"skipped,omitempty"`
	// Notified counts messages sent per channel; NotifyFailed counts sends
	// that did not succeed (they are retried later from the queue, except
	// permanent failures, which the logs explain).
	Notified     map[string]int `json:"notified"`
	NotifyFailed map[string]int `json:"notifyFailed,omitempty"`
	// Stale counts messages dropped as stale copies: their task was put
	// back on the queue since, and their own delete had failed.
	Stale int `json:"stale,omitempty"`
	// Kept counts visibility changes that kept a received message hidden
	// while the invocation still worked on it.
	Kept int `json:"kept,omitempty"`
	// PeakHeld is the most received messages the invocation held at once
	// (see Settings.HoldMax).
	PeakHeld int `json:"peakHeld,omitempty"`
	// Alerted counts operator alerts sent (one per cause, channel and hour).
	Alerted int `json:"alerted,omitempty"`
	// RecordErrors counts calls to the delivery record (DEDUPE_URL) that
	// failed; while it cannot be reached nothing is posted, tasks stay
	// queued, and the operator is alerted.
	RecordErrors int `json:"recordErrors,omitempty"`
	// DeadLettered counts unreadable messages moved to the dead-letter queue.
	DeadLettered int `json:"deadLettered"`
	// Errors counts failed calls to cloud services, by class.
	Errors map[string]int `json:"errors,omitempty"`
	// NotHandedOn counts tasks that could be neither finished nor requeued;
	// when non-zero the invocation fails so that the platform retries it.
	NotHandedOn int `json:"notHandedOn"`
	// FoundInHistory counts, by channel, verdicts whose earlier send lost
	// its answer and which the channel's history showed posted.
	FoundInHistory map[string]int `json:"foundInHistory,omitempty"`
	// Repeated counts, by channel, messages sent again under their key
	// after an earlier send lost its answer; the channel ignores a repeat
	// of one it has.
	Repeated map[string]int `json:"repeated,omitempty"`
	// Summaries counts, by channel, fleet runs' summaries posted; Quiet
	// counts fleet tasks' verdicts not posted on their own
	// (NOTIFY_MODE=changes, unchanged since the database's last run).
	Summaries map[string]int `json:"summaries,omitempty"`
	Quiet     int            `json:"quiet,omitempty"`
	// Tasks holds what became of each task message taken, in the order
	// they were handed on, up to MaxTaskFates of them; TasksOmitted counts
	// those left out, so that a sweep of 20,000 tasks keeps its memory and
	// its report small. DeadLetters lists each message dead-lettered.
	Tasks        []TaskFate   `json:"tasks,omitempty"`
	TasksOmitted int          `json:"tasksOmitted,omitempty"`
	DeadLetters  []DeadLetter `json:"deadLetters,omitempty"`
	// Fleet is what a fleet timer's invocation did to its run.
	Fleet *FleetReport `json:"fleet,omitempty"`
	// Timeline is when the invocation's phases ran.
	Timeline Timeline `json:"timeline"`
}

// Decision is what an invocation made of one task message.
type Decision string

// The decisions, as a task's message is handed on.
const (
	// Requeued: still running; checked again after the delay.
	Requeued Decision = "requeue"
	// Finished: the verdict was reached in this invocation and delivered
	// to the channels that lacked it.
	Finished Decision = "finish"
	// Redelivered: a verdict reached earlier, delivered to the channels
	// that still lacked it, if any.
	Redelivered Decision = "redeliver"
	// Held: nothing was learnt (no record, no credentials, out of time);
	// the message is kept as it was for the delay.
	Held Decision = "hold"
	// Dropped: a stale copy of a task that has a newer message queued.
	Dropped Decision = "drop"
)

// MaxTaskFates bounds the task fates one report lists.
const MaxTaskFates = 1000

// TaskFate is what became of one task message.
type TaskFate struct {
	TaskID string `json:"taskId"`
	// Attempt is the task's check count, this invocation's check included.
	Attempt  int      `json:"attempt"`
	Decision Decision `json:"decision"`
	// Verdict is the verdict delivered (Finished, Redelivered).
	Verdict precheck.Verdict `json:"verdict,omitempty"`
	// Progress is the precheck's last progress, in percent.
	Progress int `json:"progress,omitempty"`
	// DelayMS is how long, in milliseconds, the message stays out of sight
	// before it is handled again (Requeued, Held, and a Finished or
	// Redelivered verdict some channel still lacks).
	DelayMS int64 `json:"delayMs,omitempty"`
	// Missing names the channels that still lack the verdict; the message
	// goes back on the queue for them.
	Missing []string `json:"missing,omitempty"`
}

// Delay is DelayMS as a duration.
func (f TaskFate) Delay() time.Duration { return time.Duration(f.DelayMS) * time.Millisecond }

// DeadLetter is a message moved to the dead-letter queue.
type DeadLetter struct {
	MessageID string `json:"messageId,omitempty"`
	// Reason says why the message cannot be read.
	Reason string `json:"reason"`
}

// Timeline is when an invocation's phases ran: its checks from the first
// decision to the last, its sends from the first message posted to the
// last, and its end, once every message was handed on.
type Timeline struct {
	Started      time.Time `json:"started,omitzero"`
	FirstDecided time.Time `json:"firstDecided,omitzero"`
	LastDecided  time.Time `json:"lastDecided,omitzero"`
	FirstPosted  time.Time `json:"firstPosted,omitzero"`
	LastPosted   time.Time `json:"lastPosted,omitzero"`
	Ended        time.Time `json:"ended,omitzero"`
}

// span widens first..last to take in at.
func span(first, last *time.Time, at time.Time) {
	if first.IsZero() || at.Before(*first) {
		*first = at
	}
	if at.After(*last) {
		*last = at
	}
}

// tally is a Report being filled by concurrent workers.
type tally struct {
	mu sync.Mutex
	r  Report
}

func newTally(requestID string, trigger Trigger, start time.Time) *tally {
	return &tally{r: Report{
		RequestID: requestID, Trigger: trigger,
		Verdicts: map[precheck.Verdict]int{}, Notified: map[string]int{},
		NotifyFailed: map[string]int{}, Errors: map[string]int{},
		FoundInHistory: map[string]int{}, Repeated: map[string]int{}, Summaries: map[string]int{},
		Timeline: Timeline{Started: start},
	}}
}

func (t *tally) add(f func(r *Report)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.r)
}

func (t *tally) report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.r
}

// fate notes what became of j's task message as it is handed on.
func (t *tally) fate(j *job) {
	f, ok := j.fate()
	if !ok {
		return
	}
	t.add(func(r *Report) {
		if len(r.Tasks) < MaxTaskFates {
			r.Tasks = append(r.Tasks, f)
		} else {
			r.TasksOmitted++
		}
	})
}

// fate is what became of j's task message; false for a message that is not
// a task's (unreadable, or handed on already).
func (j *job) fate() (TaskFate, bool) {
	f := TaskFate{TaskID: j.task.TaskID, Attempt: j.task.Attempt, Progress: j.progress, DelayMS: j.delay.Milliseconds()}
	switch j.kind {
	case requeueJob:
		f.Decision = Requeued
	case holdJob:
		f.Decision = Held
	case doneJob, redeliverJob:
		if j.outcome == nil {
			f.Decision = Dropped
			break
		}
		f.Decision, f.Verdict = Redelivered, j.outcome.Verdict
		if j.reached {
			f.Decision = Finished
		}
		f.Missing = slices.Clone(j.missing)
		if j.kind == doneJob {
			f.DelayMS = 0
		}
	default:
		return TaskFate{}, false
	}
	return f, true
}
