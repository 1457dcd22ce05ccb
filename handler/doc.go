// Package handler is the function itself: it decodes the invocation's event,
// checks each pending precheck task with Security Center, decides what
// becomes of it, and hands every task on — requeued with backoff, delivered
// to the chat channels, or dead-lettered — before the invocation ends.
//
// The words it uses, each in one sense:
//
//   - Task message: a message on the pending queue, naming one precheck
//     task; an EventMessage is one delivered inside an MNS event.
//   - Check: one QueryPreCheckDatabase call about a task; Attempt counts
//     them.
//   - Verdict: a finished task's outcome (PASSED, WARNING, FAILED, ERROR,
//     TIMED_OUT), sealed in the delivery record once, so every later copy
//     of the task carries the same one.
//   - Delivery record: the ledger (DEDUPE_URL) of what was claimed,
//     attempted and sent on each channel.
//   - Deliver: post a verdict to a channel that lacks it; a channel has a
//     verdict once the record says it was sent there.
//   - Hand on: put a task message where it belongs before the invocation
//     ends (back on the queue with a delay, deleted, or dead-lettered); a
//     task that could not be is counted as not handed on, and fails the
//     invocation so that the platform retries it.
//   - Requeue: hand a task on for another check; redeliver: hand a
//     finished one on for the channels that still lack its verdict; hold:
//     keep its message unchanged for a while, as nothing was learnt.
//   - Settle: decide whether a send whose answer was lost went out: by
//     finding it in the channel's history, or by repeating it under the same
//     key on a channel that ignores a repeat.
//   - Fate: what became of a task message in one invocation, as the report
//     lists it (TaskFate).
package handler
