package handler

import (
	"context"
	"slices"
	"sync"
	"time"

	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// courierTick is how often a courier looks for full digest pages to send
// while the checks still run.
const courierTick = 250 * time.Millisecond

// courier delivers one channel's verdicts as they are decided. While the
// checks run it sends only full digest pages, so a burst of finished tasks
// reaches the channel during the checks rather than after them (a chat
// channel's pace, not the checks, is then what bounds the invocation);
// once the checks end it delivers the rest by the usual rules.
type courier struct {
	r    *run
	sink notify.Sink

	mu     sync.Mutex
	queued []*job
	// closed is set once the courier takes no more jobs.
	closed bool
	// paged is set once digest pages went out: the rest follows as pages too.
	paged bool
	// offered is set when a job joins the queue, and cleared when the
	// courier looks for full pages: a queue that has not grown since the
	// last look holds no new full page, and laying it out again is work
	// for nothing.
	offered bool

	checked chan struct{} // closed when the checks end
	done    chan struct{} // closed when the courier has finished
}

func newCourier(ctx context.Context, r *run, sink notify.Sink) *courier {
	c := &courier{r: r, sink: sink, checked: make(chan struct{}), done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// offer hands the courier a finished job; one that comes too late for it
// is reported undelivered at once.
func (c *courier) offer(ctx context.Context, j *job) {
	c.mu.Lock()
	if !c.closed {
		c.queued = append(c.queued, j)
		c.offered = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.report(ctx, []*job{j}, nil)
}

// finish tells the courier the checks are over and waits until it has
// delivered what it can.
func (c *courier) finish() {
	close(c.checked)
	<-c.done
}

func (c *courier) run(ctx context.Context) {
	defer close(c.done)
	// Whatever the courier could not get to is reported undelivered, so
	// that it is handed on all the same.
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.report(ctx, c.take(all), nil)
	}()
	tick := time.NewTicker(courierTick)
	defer tick.Stop()
	for {
		select {
		case <-c.checked:
			c.send(ctx, c.take(all), c.paged)
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			var ready []*job
			if c.grew() {
				ready = c.take(c.fullPages)
			}
			if len(ready) == 0 && c.r.keep.stalled() {
				// What waits here is what the sweep waits for: it grows
				// into no full page until some of it is handed on.
				ready = c.take(all)
			}
			if len(ready) > 0 {
				c.send(ctx, ready, true)
				c.paged = true
			}
		}
	}
}

// grew reports whether jobs joined the queue since it was last asked.
func (c *courier) grew() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	grew := c.offered
	c.offered = false
	return grew
}

// take removes from the queue the jobs choose picks from a snapshot of it.
func (c *courier) take(choose func([]*job) []*job) []*job {
	c.mu.Lock()
	snapshot := slices.Clone(c.queued)
	c.mu.Unlock()
	chosen := choose(snapshot)
	if len(chosen) == 0 {
		return nil
	}
	taken := make(map[*job]bool, len(chosen))
	for _, j := range chosen {
		taken[j] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = slices.DeleteFunc(c.queued, func(j *job) bool { return taken[j] })
	return chosen
}

// all picks every queued job.
func all(jobs []*job) []*job { return jobs }

// fullPages picks the jobs on digest pages that more verdicts could not add
// to: all but the last page, once there are enough verdicts for a digest.
// Copies of one task's message (a requeued copy beside an original whose
// delete failed) are one verdict: they ride on its page together, so that
// each copy hears from the channel once.
func (c *courier) fullPages(jobs []*job) []*job {
	copies := make(map[string][]*job, len(jobs))
	var finished []notify.Finished
	for _, j := range jobs {
		id := j.task.TaskID
		if copies[id] == nil {
			finished = append(finished, notify.Finished{Task: j.task, Outcome: *j.outcome})
		}
		copies[id] = append(copies[id], j)
	}
	if len(finished) <= c.r.h.cfg.DigestThreshold {
		return nil
	}
	pages := c.sink.Split(finished)
	var full []*job
	for _, p := range pages[:max(len(pages)-1, 0)] {
		for _, f := range p {
			full = append(full, copies[f.Task.TaskID]...)
		}
	}
	return full
}

func (c *courier) send(ctx context.Context, jobs []*job, asDigest bool) {
	if len(jobs) == 0 {
		return
	}
	c.report(ctx, jobs, c.r.deliverTo(ctx, c.sink, jobs, asDigest))
}

// report tells each job whether the channel now has its verdict (got, by
// index; nil when none has).
func (c *courier) report(ctx context.Context, jobs []*job, got []bool) {
	for k, j := range jobs {
		if j.reported(c.sink.Name(), got != nil && got[k]) {
			c.r.handOnFinished(ctx, j)
		}
	}
}

// await readies j for the reports of n couriers.
func (j *job) await(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.channels = n
	j.heard = make(map[string]bool, n)
}

// reported notes whether one channel has j's verdict, and says whether
// it was the last channel to report. A channel is heard once: j is
// finished only when every channel has had its say.
func (j *job) reported(channel string, has bool) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.heard[channel] {
		return false
	}
	j.heard[channel] = true
	if !has {
		j.missing = append(j.missing, channel)
	}
	return len(j.heard) == j.channels
}

// handOnFinished decides a finished job's fate once every channel has reported,
// and hands it on at once: a message nothing is left to deliver for is
// deleted now, not at the end of the invocation.
func (r *run) handOnFinished(ctx context.Context, j *job) {
	fate := precheck.Decide(precheck.Facts{Task: j.task, Sealed: j.outcome, Delivery: &precheck.Delivery{Missing: j.missing},
		Now: r.h.d.Now(), Jitter: r.h.d.Jitter()}, r.h.cfg.Policy)
	r.apply(j, fate)
	r.log.Info("task verdict handed to channels", "taskId", j.task.TaskID, "attempt", j.task.Attempt,
		"verdict", j.outcome.Verdict, "missing", j.missing, "decision", fate.Action.String(),
		"redeliverIn", j.delay.Round(time.Millisecond).String())
	r.hand.add(ctx, j)
}
