package handler

import (
	"context"
	"sync"
	"time"

	"precheckwatch/ledger"
)

// handOn puts every job where it belongs, in batches: sends first (requeues,
// redeliveries, dead letters), then deletes of the originals whose
// successors were sent. A message is never deleted before its successor is
// on a queue, so a crash at any point leaves a task queued at least once.
type handOn struct {
	r *run

	mu      sync.Mutex
	sends   []*job
	deletes []string
	// since is when the oldest of deletes was queued.
	since time.Time
	// finished are the jobs every channel has the verdict of, whose
	// event's hand-on is yet to be marked and whose record is yet to be
	// retired: both are recorded a page at a time.
	finished []*job
	// inflight tracks the full batches being sent or deleted.
	inflight sync.WaitGroup
}

func newHandOn(r *run) *handOn { return &handOn{r: r} }

// add routes j. A full batch goes out on a goroutine of its own, so that
// the worker that filled it goes back to checking rather than waiting for
// the call.
func (h *handOn) add(ctx context.Context, j *job) {
	h.r.tally.fate(j)
	if j.kind == requeueJob || j.kind == redeliverJob || j.kind == holdJob {
		h.r.putsBack(j.task.TaskID)
	}
	var sends []*job
	var deletes []string
	h.mu.Lock()
	switch {
	case j.kind == skipJob:
		h.mu.Unlock()
		return
	case j.kind == deadLetterJob:
		h.mu.Unlock()
		h.r.deadLetter(ctx, j)
		return
	case j.kind == holdJob && !j.fromEvent:
		h.mu.Unlock()
		h.r.hold(ctx, j)
		return
	case j.kind == doneJob:
		h.finished = append(h.finished, j)
		if !j.fromEvent {
			if len(h.deletes) == 0 {
				h.since = h.r.h.d.Now()
			}
			h.deletes = append(h.deletes, h.r.keep.release(j))
		}
	default:
		h.sends = append(h.sends, j)
	}
	if len(h.sends) >= batchSize {
		sends, h.sends = h.sends, nil
	}
	if len(h.deletes) >= batchSize {
		deletes, h.deletes = h.deletes, nil
	}
	var finished []*job
	if len(h.finished) >= finishedPage {
		finished, h.finished = h.finished, nil
	}
	h.mu.Unlock()
	if len(sends) > 0 || len(deletes) > 0 || len(finished) > 0 {
		h.inflight.Go(func() {
			h.send(ctx, sends)
			h.remove(ctx, deletes)
			h.finish(ctx, finished)
		})
	}
}

// finishedPage is how many finished jobs are recorded in one call: an
// event's page.
const finishedPage = eventPage

// finish records that the jobs are done: their event's hand-on, and their
// task's record retired, so that a process keeping the ledger in memory
// does not keep every verdict it delivered. A fleet task's record is kept:
// its run's summary reads the verdict from it. Were the invocation to end
// before this, an event's retry finds the verdicts sent and the messages
// go all the same.
func (h *handOn) finish(ctx context.Context, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	r := h.r
	r.handed(ctx, jobs, true)
	var retire []string
	for _, j := range jobs {
		if j.outcome != nil && j.task.Run == "" {
			retire = append(retire, j.task.TaskID)
		}
	}
	if len(retire) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	if err := r.h.d.Ledger.Retire(sctx, retire); err != nil {
		r.ledgerError("retire", err)
	}
}

// deleteWait is the longest a finished message waits for its delete batch
// to fill.
const deleteWait = time.Second

// flushDeletes deletes the queued originals once the oldest has waited
// deleteWait: a finished task's message goes soon, not at the end.
func (h *handOn) flushDeletes(ctx context.Context) {
	h.mu.Lock()
	var deletes []string
	if len(h.deletes) > 0 && h.r.h.d.Now().Sub(h.since) >= deleteWait {
		deletes, h.deletes = h.deletes, nil
	}
	h.mu.Unlock()
	h.remove(ctx, deletes)
}

// flush waits for the batches in flight and hands on whatever is left.
func (h *handOn) flush(ctx context.Context) {
	h.inflight.Wait()
	h.mu.Lock()
	sends, deletes := h.sends, h.deletes
	h.sends, h.deletes = nil, nil
	h.mu.Unlock()
	for len(sends) > 0 {
		n := min(batchSize, len(sends))
		h.send(ctx, sends[:n])
		sends = sends[n:]
	}
	h.mu.Lock()
	deletes = append(deletes, h.deletes...)
	finished := h.finished
	h.deletes, h.finished = nil, nil
	h.mu.Unlock()
	for len(deletes) > 0 {
		n := min(batchSize, len(deletes))
		h.remove(ctx, deletes[:n])
		deletes = deletes[n:]
	}
	h.finish(ctx, finished)
}

// send puts jobs back on the pending queue and deletes their originals.
func (h *handOn) send(ctx context.Context, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	r := h.r
	out := make([]Outgoing, len(jobs))
	for i, j := range jobs {
		out[i] = Outgoing{Body: j.body(), Delay: j.delay}
	}
	cctx, cancel := context.WithDeadline(ctx, r.times.handUntil)
	errs := r.pending.Send(cctx, out)
	cancel()
	var deletes []string
	var requeued []ledger.Requeued
	var sent, unsent []*job
	for i, j := range jobs {
		var err error
		if i < len(errs) {
			err = errs[i]
		}
		if err != nil {
			r.serviceError("mns", "send", err)
			if j.fromEvent {
				// The event's copy is deleted once we return: this one is
				// not handed on, so the invocation must fail.
				r.tally.add(func(rep *Report) { rep.NotHandedOn++ })
				unsent = append(unsent, j)
			}
			continue
		}
		sent = append(sent, j)
		r.tally.add(func(rep *Report) {
			switch j.kind {
			case requeueJob, holdJob:
				rep.Requeued++
			case redeliverJob:
				rep.Redelivering++
			}
		})
		if j.kind != holdJob {
			requeued = append(requeued, ledger.Requeued{TaskID: j.task.TaskID, Attempt: j.task.Attempt})
		}
		if !j.fromEvent {
			deletes = append(deletes, r.keep.release(j))
		}
	}
	r.handed(ctx, unsent, false)
	r.handed(ctx, sent, true)
	r.noteRequeued(ctx, requeued)
	h.remove(ctx, deletes)
}

// noteRequeued records the check counts of the messages just sent, before
// their originals are deleted: an original whose delete fails then comes
// back as a stale copy, and goes without another check or requeue. Failing
// to record them costs only that.
func (r *run) noteRequeued(ctx context.Context, requeued []ledger.Requeued) {
	if len(requeued) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	if err := r.h.d.Ledger.NoteRequeued(sctx, requeued); err != nil {
		r.ledgerError("note requeues", err)
	}
}

// remove deletes handed-on originals. A handle that lost its message is not
// a loss: the message comes back and is recognised as delivered or requeued.
func (h *handOn) remove(ctx context.Context, handles []string) {
	if len(handles) == 0 {
		return
	}
	cctx, cancel := context.WithDeadline(ctx, h.r.times.handUntil)
	defer cancel()
	for _, err := range h.r.pending.Delete(cctx, handles) {
		if err != nil {
			h.r.serviceError("mns", "delete", err)
		}
	}
}

// body is what goes back on the queue for j: the task's own fields and
// check count, never a verdict, so a requeued body stays as small as the
// producer's, whatever the size of the verdict the ledger keeps.
func (j *job) body() []byte {
	if j.kind == holdJob {
		return j.msg.Body
	}
	b, err := j.task.Encode()
	if err != nil {
		return j.msg.Body
	}
	return b
}

// hold keeps a received message on the queue, unchanged, for j.delay.
func (r *run) hold(ctx context.Context, j *job) {
	handle := r.keep.release(j)
	if j.delay <= 0 {
		// Out of time: the message reappears when its visibility ends.
		return
	}
	cctx, cancel := context.WithDeadline(ctx, r.times.handUntil)
	defer cancel()
	if _, err := r.pending.ChangeVisibility(cctx, handle, j.delay); err != nil {
		r.serviceError("mns", "change visibility", err)
		return
	}
	r.tally.add(func(rep *Report) { rep.Requeued++ })
}

// deadLetter moves an unreadable message, verbatim, to the dead-letter
// queue, then deletes the original.
func (r *run) deadLetter(ctx context.Context, j *job) {
	r.dlqOnce.Do(func() { r.dlq, r.dlqErr = r.h.d.Queues.Open(ctx, r.inv, r.h.cfg.DeadLetterQueue) })
	err := r.dlqErr
	if err == nil {
		cctx, cancel := context.WithDeadline(ctx, r.times.handUntil)
		errs := r.dlq.Send(cctx, []Outgoing{{Body: j.raw}})
		cancel()
		if len(errs) > 0 {
			err = errs[0]
		}
	}
	if err != nil {
		r.serviceError("mns", "dead-letter", err)
		if j.fromEvent {
			r.tally.add(func(rep *Report) { rep.NotHandedOn++ })
			r.handed(ctx, []*job{j}, false)
		}
		return
	}
	r.handed(ctx, []*job{j}, true)
	r.tally.add(func(rep *Report) {
		rep.DeadLettered++
		rep.DeadLetters = append(rep.DeadLetters, DeadLetter{MessageID: j.msg.ID, Reason: j.why})
	})
	r.log.Warn("message dead-lettered", "messageId", j.msg.ID, "queue", r.h.cfg.DeadLetterQueue, "reason", j.why)
	if !j.fromEvent {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if errs := r.pending.Delete(cctx, []string{r.keep.release(j)}); len(errs) > 0 && errs[0] != nil {
			r.serviceError("mns", "delete", errs[0])
		}
	}
}
