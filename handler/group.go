package handler

import (
	"context"
	"sync"

	"precheckwatch/precheck"
)

// A group is a page of jobs prepared together (prepare), whose new
// verdicts are sealed together too: in one call once the last of the page
// is decided, one round trip to a shared record however many verdicts it
// carries. A finished job waits at most for the slowest check of its page
// before it goes to the channels.
type group struct {
	mu sync.Mutex
	// left counts the jobs not yet decided.
	left int
	// unsealed are the finished jobs whose verdicts wait for the seal.
	unsealed []*job
}

// newGroup makes the page one group.
func newGroup(page []*job) {
	g := &group{left: len(page)}
	for _, j := range page {
		j.group = g
	}
}

// decided notes that j, a prepared job, has been checked and returns the
// jobs now ready to hand on: j, unless its verdict waits to be sealed with
// its group's, and once the last of the group is decided, every verdict it
// was holding, sealed in one call.
func (r *run) decided(ctx context.Context, j *job) []*job {
	g := j.group
	var ready, seal []*job
	g.mu.Lock()
	g.left--
	if j.unsealed {
		g.unsealed = append(g.unsealed, j)
	} else {
		ready = append(ready, j)
	}
	if g.left == 0 {
		seal, g.unsealed = g.unsealed, nil
	}
	g.mu.Unlock()
	if len(seal) > 0 {
		r.seal(ctx, seal)
	}
	ready = append(ready, seal...)
	r.tallyRuns(ctx, ready)
	return ready
}

// seal records the finished jobs' verdicts in one call and gives each the
// verdict sealed, which is another instance's when it decided first; a job
// whose task was retired meanwhile goes. Jobs whose verdicts cannot be
// sealed are held as they are, to be checked again.
func (r *run) seal(ctx context.Context, jobs []*job) {
	outcomes := make(map[string]precheck.Outcome, len(jobs))
	for _, j := range jobs {
		if _, dup := outcomes[j.task.TaskID]; !dup {
			outcomes[j.task.TaskID] = *j.outcome
		}
	}
	sctx, cancel := r.recordCtx(ctx)
	sealed, err := r.h.d.Ledger.Seal(sctx, outcomes)
	cancel()
	if err != nil {
		r.ledgerError("seal", err)
	}
	for _, j := range jobs {
		o, ok := sealed[j.task.TaskID]
		if !ok && err == nil {
			// Retired since it was recalled: another copy of the task's
			// message got its verdict to every channel first.
			r.apply(j, precheck.Decide(precheck.Facts{Task: j.parsed, Retired: true}, r.h.cfg.Policy))
			j.unsealed = false
			continue
		}
		if !ok {
			r.holdUnrecorded(j, "the verdict could not be sealed")
			continue
		}
		j.outcome, j.unsealed = &o, false
		r.tally.add(func(rep *Report) { rep.Finished++; rep.Verdicts[o.Verdict]++ })
	}
}

// holdUnrecorded hands j on as it came, to be checked again, since what
// becomes of it could not be recorded (why says what).
func (r *run) holdUnrecorded(j *job, why string) {
	r.apply(j, precheck.Decide(precheck.Facts{Task: j.parsed, Reply: precheck.Reply{Kind: precheck.NotAsked, Reason: why}}, r.h.cfg.Policy))
	r.log.Warn("task held", "messageId", j.msg.ID, "taskId", j.task.TaskID, "reason", j.why)
}
