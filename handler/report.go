package handler

import (
	"sync"

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
	// Unhanded counts tasks that could be neither finished nor requeued;
	// when non-zero the invocation fails so that the platform retries it.
	Unhanded int `json:"unhanded"`
}

// tally is a Report being filled by concurrent workers.
type tally struct {
	mu sync.Mutex
	r  Report
}

func newTally(requestID string, trigger Trigger) *tally {
	return &tally{r: Report{
		RequestID: requestID, Trigger: trigger,
		Verdicts: map[precheck.Verdict]int{}, Notified: map[string]int{},
		NotifyFailed: map[string]int{}, Errors: map[string]int{},
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
