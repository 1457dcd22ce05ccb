package handler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"precheckwatch/dedupe"
	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// leaseTTL bounds how long one instance may hold the right to send a
// notification; it outlives a send with its retries.
const leaseTTL = 2 * time.Minute

// sendAttempts bounds the attempts at one message within an invocation;
// later attempts come from the queue.
const sendAttempts = 3

// digestSize is the most tasks one digest message lists.
const digestSize = 40

// startedVerdict is the dedupe verdict of a "precheck running" notice.
const startedVerdict = "STARTED"

// deliver sends the verdicts of finished jobs to every channel, channels in
// parallel so that one channel's outage does not delay another.
func (r *run) deliver(ctx context.Context, finished []*job) {
	if len(finished) == 0 || len(r.h.d.Sinks) == 0 {
		return
	}
	delivered := make([][]bool, len(r.h.d.Sinks))
	var wg sync.WaitGroup
	for i, sink := range r.h.d.Sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delivered[i] = r.deliverTo(ctx, sink, finished)
		}()
	}
	wg.Wait()
	for i, sink := range r.h.d.Sinks {
		for k, j := range finished {
			if delivered[i][k] && !j.task.IsDelivered(sink.Name()) {
				j.task.Delivered = append(j.task.Delivered, sink.Name())
			}
		}
	}
	for _, j := range finished {
		if !r.allDelivered(j) {
			j.delay = r.redeliveryDelay(j)
		}
	}
}

// allDelivered reports whether every configured channel has j's verdict.
func (r *run) allDelivered(j *job) bool {
	for _, s := range r.h.d.Sinks {
		if !j.task.IsDelivered(s.Name()) {
			return false
		}
	}
	return true
}

// redeliveryDelay spaces the retries of undelivered channels like checks.
func (r *run) redeliveryDelay(j *job) time.Duration {
	return precheck.Backoff(len(j.task.Delivered)+j.task.Attempt, r.h.policy, r.h.d.Jitter())
}

// deliverTo sends each pending verdict to one channel, one message a task,
// or digests when many tasks finished together. It returns which jobs the
// channel now has.
func (r *run) deliverTo(ctx context.Context, sink notify.Sink, jobs []*job) []bool {
	done := make([]bool, len(jobs))
	var pending []int
	for k, j := range jobs {
		if j.task.IsDelivered(sink.Name()) {
			done[k] = true
		} else {
			pending = append(pending, k)
		}
	}
	if len(pending) > r.h.cfg.DigestThreshold {
		for len(pending) > 0 {
			n := min(digestSize, len(pending))
			r.deliverDigest(ctx, sink, jobs, pending[:n], done)
			pending = pending[n:]
		}
		return done
	}
	for _, k := range pending {
		done[k] = r.deliverOne(ctx, sink, jobs[k])
	}
	return done
}

func verdictKey(j *job, channel string) dedupe.Key {
	return dedupe.Key{TaskID: j.task.TaskID, Channel: channel, Verdict: string(j.task.Final.Verdict)}
}

// deliverOne sends one task's verdict under the delivery record.
func (r *run) deliverOne(ctx context.Context, sink notify.Sink, j *job) bool {
	key := verdictKey(j, sink.Name())
	claim, ok := r.claim(ctx, key)
	if !ok || claim.State == dedupe.Busy {
		return false
	}
	if claim.State == dedupe.Delivered {
		return true
	}
	m := notify.RenderVerdict(j.task, *j.task.Final, r.h.render)
	m.Key = key.ID()
	parent := j.task.Started[sink.Name()]
	channel, ts, threaded := strings.Cut(parent, " ")
	if threaded {
		m.ThreadOf = ts
	}
	out := r.send(ctx, sink, m, j.task.TaskID)
	if out.Status != notify.Sent {
		r.release(ctx, claim.Lease)
		return false
	}
	r.record(ctx, claim.Lease, out)
	if u, ok := sink.(notify.Updater); ok && threaded {
		m.ThreadOf = ""
		if up := u.Update(ctx, channel, ts, m); up.Status != notify.Sent {
			r.log.Warn("running notice not updated", "taskId", j.task.TaskID, "channel", sink.Name(), "reason", up.Reason)
		}
	}
	return true
}

// deliverDigest sends one digest for the jobs at idx.
func (r *run) deliverDigest(ctx context.Context, sink notify.Sink, jobs []*job, idx []int, done []bool) {
	var (
		leases []dedupe.Lease
		items  []notify.Finished
		keys   []string
		which  []int
	)
	for _, k := range idx {
		j := jobs[k]
		key := verdictKey(j, sink.Name())
		claim, ok := r.claim(ctx, key)
		switch {
		case !ok || claim.State == dedupe.Busy:
		case claim.State == dedupe.Delivered:
			done[k] = true
		default:
			leases = append(leases, claim.Lease)
			items = append(items, notify.Finished{Task: j.task, Outcome: *j.task.Final})
			keys = append(keys, key.ID())
			which = append(which, k)
		}
	}
	if len(items) == 0 {
		return
	}
	m := notify.RenderDigest(items, r.h.render)
	m.Key = dedupe.Key{TaskID: strings.Join(keys, ","), Channel: sink.Name(), Verdict: "DIGEST"}.ID()
	out := r.send(ctx, sink, m, fmt.Sprintf("digest of %d", len(items)))
	for i, lease := range leases {
		if out.Status == notify.Sent {
			r.record(ctx, lease, out)
			done[which[i]] = true
		} else {
			r.release(ctx, lease)
		}
	}
}

// claim takes the right to send key; ok is false when the record cannot be
// reached, and then nothing is sent: a verdict not sent now is sent later,
// a verdict sent twice cannot be taken back.
func (r *run) claim(ctx context.Context, key dedupe.Key) (dedupe.Claim, bool) {
	c, err := r.h.d.Store.Claim(ctx, key, leaseTTL)
	if err != nil {
		r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
		r.log.Error("delivery record unavailable", "key", key.ID(), "error", err)
		return c, false
	}
	return c, true
}

func (r *run) record(ctx context.Context, lease dedupe.Lease, out notify.Outcome) {
	ref := strings.TrimSpace(out.Channel + " " + out.Ref)
	if err := r.h.d.Store.Done(context.WithoutCancel(ctx), lease, ref); err != nil {
		r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
		r.log.Error("delivery not recorded", "key", lease.Key.ID(), "error", err)
	}
}

func (r *run) release(ctx context.Context, lease dedupe.Lease) {
	if err := r.h.d.Store.Release(context.WithoutCancel(ctx), lease); err != nil {
		r.log.Warn("lease not released; it expires by itself", "key", lease.Key.ID(), "error", err)
	}
}

// send makes up to sendAttempts attempts at m while the invocation's
// delivery time allows, honouring the channel's Retry-After.
func (r *run) send(ctx context.Context, sink notify.Sink, m notify.Message, what string) notify.Outcome {
	var out notify.Outcome
	for attempt := 0; attempt < sendAttempts; attempt++ {
		cctx, cancel := context.WithDeadline(ctx, r.times.notifyUntil)
		out = sink.Send(cctx, m)
		cancel()
		if out.Status == notify.Sent {
			r.tally.add(func(rep *Report) { rep.Notified[sink.Name()]++ })
			r.log.Info("notified", "channel", sink.Name(), "task", what, "attempt", attempt+1)
			return out
		}
		r.log.Warn("notification not sent", "channel", sink.Name(), "task", what, "attempt", attempt+1,
			"status", out.Status.String(), "reason", out.Reason, "error", errText(out.Err))
		if out.Status != notify.Retry {
			break
		}
		wait := max(out.RetryAfter, time.Duration(500<<attempt)*time.Millisecond)
		if r.h.d.Now().Add(wait).After(r.times.notifyUntil) || !sleep(ctx, wait) {
			break
		}
	}
	r.tally.add(func(rep *Report) { rep.NotifyFailed[sink.Name()]++ })
	return out
}

// announceStart posts the "precheck running" notice on each channel and
// remembers where, so that the verdict can thread under it.
func (r *run) announceStart(ctx context.Context, j *job) {
	for _, sink := range r.h.d.Sinks {
		key := dedupe.Key{TaskID: j.task.TaskID, Channel: sink.Name(), Verdict: startedVerdict}
		claim, ok := r.claim(ctx, key)
		if !ok || claim.State == dedupe.Busy {
			continue
		}
		ref := claim.Ref
		if claim.State == dedupe.Claimed {
			m := notify.RenderStarted(j.task)
			m.Key = key.ID()
			cctx, cancel := context.WithDeadline(ctx, r.times.checkUntil.Add(callGrace))
			out := sink.Send(cctx, m)
			cancel()
			if out.Status != notify.Sent {
				r.release(ctx, claim.Lease)
				continue
			}
			r.tally.add(func(rep *Report) { rep.Notified[sink.Name()]++ })
			r.record(ctx, claim.Lease, out)
			ref = strings.TrimSpace(out.Channel + " " + out.Ref)
		}
		if ref != "" {
			if j.task.Started == nil {
				j.task.Started = map[string]string{}
			}
			j.task.Started[sink.Name()] = ref
		}
	}
}

// alertWindow is how often one cause may alert the operator on a channel.
const alertWindow = time.Hour

// alertOperators sends one alert per credentials or permission failure
// cause per channel per window, however many tasks it held up.
func (r *run) alertOperators(ctx context.Context) {
	r.mu.Lock()
	causes := r.causes
	r.causes = map[string]*alertCause{}
	r.mu.Unlock()
	window := r.h.d.Now().Truncate(alertWindow).UTC().Format("2006010215")
	for c, a := range causes {
		for _, sink := range r.h.d.Sinks {
			key := dedupe.Key{TaskID: "operator " + c, Channel: sink.Name(), Verdict: window}
			claim, ok := r.claim(ctx, key)
			if !ok || claim.State != dedupe.Claimed {
				continue
			}
			m := notify.RenderOperatorAlert(c, a.detail, a.affected)
			m.Key = key.ID()
			if out := r.send(ctx, sink, m, "operator alert"); out.Status == notify.Sent {
				r.record(ctx, claim.Lease, out)
			} else {
				r.release(ctx, claim.Lease)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
