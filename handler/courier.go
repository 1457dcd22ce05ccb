package handler

import (
	"context"
	"slices"
	"sync"
	"time"

	"precheckwatch/notify"
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

	mu        sync.Mutex
	queued    []*job
	delivered map[*job]bool
	// paged is set once digest pages went out: the rest follows as pages too.
	paged bool

	checked chan struct{} // closed when the checks end
	done    chan struct{} // closed when the courier has finished
}

func newCourier(ctx context.Context, r *run, sink notify.Sink) *courier {
	c := &courier{r: r, sink: sink, delivered: map[*job]bool{}, checked: make(chan struct{}), done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// offer hands the courier a finished job.
func (c *courier) offer(j *job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = append(c.queued, j)
}

// finish tells the courier the checks are over and waits until it has
// delivered what it can.
func (c *courier) finish() {
	close(c.checked)
	<-c.done
}

func (c *courier) run(ctx context.Context) {
	defer close(c.done)
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
			if full := c.take(c.fullPages); len(full) > 0 {
				c.send(ctx, full, true)
				c.paged = true
			}
		}
	}
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
func (c *courier) fullPages(jobs []*job) []*job {
	if len(jobs) <= c.r.h.cfg.DigestThreshold {
		return nil
	}
	finished := make([]notify.Finished, len(jobs))
	byTask := make(map[string]*job, len(jobs))
	for i, j := range jobs {
		finished[i] = notify.Finished{Task: j.task, Outcome: *j.task.Final}
		byTask[j.task.TaskID] = j
	}
	pages := c.sink.Digest(finished)
	var full []*job
	for _, p := range pages[:max(len(pages)-1, 0)] {
		for _, f := range p.Tasks {
			full = append(full, byTask[f.Task.TaskID])
		}
	}
	return full
}

func (c *courier) send(ctx context.Context, jobs []*job, asDigest bool) {
	if len(jobs) == 0 {
		return
	}
	got := c.r.deliverTo(ctx, c.sink, jobs, asDigest)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, j := range jobs {
		if got[k] {
			c.delivered[j] = true
		}
	}
}
