package handler

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"precheckwatch/dedupe"
	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// leaseMargin is how long a lease outlives the invocation that took it.
const leaseMargin = 2 * time.Second

// leaseTTL is how long a lease taken now lasts: until the invocation's
// deadline, when FC stops it at the latest, and a margin. A holder that was
// killed keeps others waiting no longer than its invocation could have run;
// a live one never loses its lease while it may still send.
func (r *run) leaseTTL() time.Duration {
	return max(r.times.deadline.Sub(r.h.d.Now()), 0) + leaseMargin
}

// sendAttempts bounds the attempts at one message within an invocation;
// later attempts come from the queue.
const sendAttempts = 3

// storeTimeout bounds one call to the delivery record: Redis answers in a
// millisecond, and one that hangs must cost a verdict its turn, not the
// invocation its time to hand every task on.
const storeTimeout = 2 * time.Second

// storeCtx bounds a call to the delivery record. Recording a send that
// succeeded runs under context.WithoutCancel: the message went out, so the
// record must be written even as the invocation ends.
func storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, storeTimeout)
}

// startedVerdict is the dedupe verdict of a "precheck running" notice.
const startedVerdict = "STARTED"

// deliver sends the verdicts of finished jobs to every channel, channels in
// parallel so that one channel's outage does not delay another.
func (r *run) deliver(finished []*job, couriers []*courier) {
	for _, c := range couriers {
		c.finish()
	}
	for _, c := range couriers {
		for _, j := range finished {
			if c.delivered[j] && !j.task.IsDelivered(c.sink.Name()) {
				j.task.Delivered = append(j.task.Delivered, c.sink.Name())
			}
		}
	}
	for _, j := range finished {
		outcomes := make(map[string]string, len(couriers))
		for _, c := range couriers {
			outcomes[c.sink.Name()] = "pending"
			if j.task.IsDelivered(c.sink.Name()) {
				outcomes[c.sink.Name()] = "delivered"
			}
		}
		if !r.allDelivered(j) {
			j.delay = r.redeliveryDelay(j)
		}
		r.log.Info("task verdict handed to channels", "taskId", j.task.TaskID, "attempt", j.task.Attempt,
			"verdict", j.task.Final.Verdict, "channels", outcomes, "redeliverIn", j.delay.Round(time.Millisecond).String())
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

// pendingItem is a verdict this invocation holds the lease to send.
type pendingItem struct {
	k     int // index into the jobs
	key   dedupe.Key
	lease dedupe.Lease
	// prior is the record of the latest earlier attempt, if any; unless its
	// message is void, its outcome is unknown.
	prior *attempt
}

// deliverTo sends each pending verdict to one channel, one message a task,
// or digests when many tasks finished together (or when the invocation has
// begun sending digests: asDigest), after settling earlier attempts whose
// answer was lost. It returns which jobs the channel now has.
func (r *run) deliverTo(ctx context.Context, sink notify.Sink, jobs []*job, asDigest bool) []bool {
	done := make([]bool, len(jobs))
	mode := modeOf(sink)
	var fresh, retries []pendingItem
	for k, j := range jobs {
		if j.task.IsDelivered(sink.Name()) {
			done[k] = true
			continue
		}
		key := verdictKey(j, sink.Name())
		c, ok := r.claim(ctx, key)
		switch {
		case !ok || c.State == dedupe.Busy:
			continue
		case c.State == dedupe.Delivered:
			done[k] = true
			continue
		}
		it := pendingItem{k: k, key: key, lease: c.Lease}
		if mode != plainMode {
			prior, void, err := r.latestAttempt(ctx, key)
			if err != nil {
				r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
				r.log.Error("attempt record unavailable", "key", key.ID(), "error", err)
				r.release(ctx, c.Lease)
				continue
			}
			it.prior = prior
			if prior != nil && !void {
				retries = append(retries, it)
				continue
			}
		}
		fresh = append(fresh, it)
	}
	switch mode {
	case historyMode:
		fresh = append(fresh, r.settle(ctx, sink.(notify.Searcher), retries, done)...)
	case idempotentMode:
		r.repeat(ctx, sink, jobs, retries, done)
	}
	if len(fresh) > r.h.cfg.DigestThreshold || asDigest && len(fresh) > 1 {
		for _, page := range r.digestPages(sink, jobs, fresh) {
			r.deliverDigest(ctx, sink, mode, jobs, page.items, page.msg, done)
		}
		return done
	}
	for _, it := range fresh {
		done[it.k] = r.deliverOne(ctx, sink, mode, jobs[it.k], it)
	}
	return done
}

func verdictKey(j *job, channel string) dedupe.Key {
	return dedupe.Key{TaskID: j.task.TaskID, Channel: channel, Verdict: string(j.task.Final.Verdict)}
}

// repeat sends again, under the same key, the message each earlier attempt
// went out in, on a channel that ignores a repeated key: one send per
// message, however many of its verdicts this invocation holds.
func (r *run) repeat(ctx context.Context, sink notify.Sink, jobs []*job, items []pendingItem, done []bool) {
	byMsg := map[string][]pendingItem{}
	var order []string
	for _, it := range items {
		if byMsg[it.prior.msg] == nil {
			order = append(order, it.prior.msg)
		}
		byMsg[it.prior.msg] = append(byMsg[it.prior.msg], it)
	}
	for _, msg := range order {
		group := byMsg[msg]
		var m notify.Message
		if msg == group[0].key.ID() {
			m = r.verdictMessage(jobs[group[0].k], sink, group[0].key)
		} else {
			var err error
			if m, err = r.keptMessage(ctx, sink, msg); err != nil {
				r.log.Error("digest to repeat unavailable", "key", msg, "error", err)
				for _, it := range group {
					r.release(ctx, it.lease)
				}
				continue
			}
		}
		// A repeat that surely failed proves nothing about the first
		// attempt: the message stays bound, nothing is made void.
		out, _ := r.send(ctx, sink, idempotentMode, m, nil, fmt.Sprintf("repeat of %s", msg))
		r.settleLeases(ctx, group, out, done)
	}
}

// verdictMessage renders j's verdict for sink, threaded under its running
// notice when there is one.
func (r *run) verdictMessage(j *job, sink notify.Sink, key dedupe.Key) notify.Message {
	m := sink.Verdict(j.task, *j.task.Final)
	m.Key = key.ID()
	if _, ts, threaded := strings.Cut(j.task.Started[sink.Name()], " "); threaded {
		m.ThreadOf = ts
	}
	return m
}

// deliverOne sends one task's verdict under the delivery record.
func (r *run) deliverOne(ctx context.Context, sink notify.Sink, mode settleMode, j *job, it pendingItem) bool {
	m := r.verdictMessage(j, sink, it.key)
	if mode != plainMode {
		if err := r.noteAttempt(ctx, it.key, it.prior, m.Key); err != nil {
			r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
			r.log.Error("attempt not recorded; not sending", "key", it.key.ID(), "error", err)
			r.release(ctx, it.lease)
			return false
		}
	}
	out, unsure := r.send(ctx, sink, mode, m, []string{m.Key}, j.task.TaskID)
	if out.Status != notify.Sent {
		if mode != plainMode && !unsure {
			r.noteVoid(ctx, sink.Name(), m.Key)
		}
		r.release(ctx, it.lease)
		return false
	}
	r.record(ctx, it.lease, out)
	channel, ts, threaded := strings.Cut(j.task.Started[sink.Name()], " ")
	if u, ok := sink.(notify.Updater); ok && threaded {
		m.ThreadOf = ""
		if up := u.Update(ctx, channel, ts, m); up.Status != notify.Sent {
			r.log.Warn("running notice not updated", "taskId", j.task.TaskID, "channel", sink.Name(), "reason", up.Reason)
		}
	}
	return true
}

// digestPage is one digest message and the verdicts it shows.
type digestPage struct {
	items []pendingItem
	msg   notify.Message
}

// digestPages splits many verdicts into digest messages, as few as the
// channels' size limits allow, each showing every task it holds: a verdict
// is only recorded as delivered by a message that shows it.
func (r *run) digestPages(sink notify.Sink, jobs []*job, items []pendingItem) []digestPage {
	finished := make([]notify.Finished, len(items))
	byTask := make(map[string]pendingItem, len(items))
	for i, it := range items {
		j := jobs[it.k]
		finished[i] = notify.Finished{Task: j.task, Outcome: *j.task.Final}
		byTask[j.task.TaskID] = it
	}
	rendered := sink.Digest(finished)
	pages := make([]digestPage, len(rendered))
	for i, p := range rendered {
		pages[i].msg = p.Message
		for _, f := range p.Tasks {
			pages[i].items = append(pages[i].items, byTask[f.Task.TaskID])
		}
	}
	return pages
}

// deliverDigest sends m, the digest of the items.
func (r *run) deliverDigest(ctx context.Context, sink notify.Sink, mode settleMode, jobs []*job, items []pendingItem, m notify.Message, done []bool) {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key.ID()
	}
	releaseAll := func() {
		for _, it := range items {
			r.release(ctx, it.lease)
		}
	}
	// The generations make a digest of the same verdicts sent again after a
	// void attempt a new message, which a repeat of the old one cannot
	// be mistaken for.
	gens := make([]string, len(items))
	for i, it := range items {
		gens[i] = keys[i]
		if it.prior != nil {
			gens[i] += "#" + strconv.Itoa(it.prior.gen+1)
		}
	}
	m.Key = dedupe.Key{TaskID: strings.Join(gens, ","), Channel: sink.Name(), Verdict: "DIGEST"}.ID()
	if mode == idempotentMode {
		if err := r.keepContent(ctx, sink.Name(), m); err != nil {
			r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
			r.log.Error("digest not recorded; not sending", "key", m.Key, "error", err)
			releaseAll()
			return
		}
	}
	if mode != plainMode {
		for _, it := range items {
			if err := r.noteAttempt(ctx, it.key, it.prior, m.Key); err != nil {
				r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
				r.log.Error("attempt not recorded; not sending", "key", it.key.ID(), "error", err)
				// Some verdicts may be bound to a digest that never goes out.
				r.noteVoid(ctx, sink.Name(), m.Key)
				releaseAll()
				return
			}
		}
	}
	out, unsure := r.send(ctx, sink, mode, m, keys, fmt.Sprintf("digest of %d", len(items)))
	if out.Status != notify.Sent && mode != plainMode && !unsure {
		r.noteVoid(ctx, sink.Name(), m.Key)
	}
	r.settleLeases(ctx, items, out, done)
}

// settleLeases records items as delivered when out was sent, else releases
// them for a later attempt.
func (r *run) settleLeases(ctx context.Context, items []pendingItem, out notify.Outcome, done []bool) {
	for _, it := range items {
		if out.Status == notify.Sent {
			r.record(ctx, it.lease, out)
			done[it.k] = true
		} else {
			r.release(ctx, it.lease)
		}
	}
}

// claim takes the right to send key; ok is false when the record cannot be
// reached, and then nothing is sent: a verdict not sent now is sent later,
// a verdict sent twice cannot be taken back.
func (r *run) claim(ctx context.Context, key dedupe.Key) (dedupe.Claim, bool) {
	sctx, cancel := storeCtx(ctx)
	defer cancel()
	c, err := r.h.d.Store.Claim(sctx, key, r.leaseTTL())
	if err != nil {
		r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
		r.log.Error("delivery record unavailable", "key", key.ID(), "error", err)
		return c, false
	}
	return c, true
}

func (r *run) record(ctx context.Context, lease dedupe.Lease, out notify.Outcome) {
	ref := strings.TrimSpace(out.Channel + " " + out.Ref)
	sctx, cancel := storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := r.h.d.Store.Done(sctx, lease, ref); err != nil {
		r.tally.add(func(rep *Report) { rep.Errors["dedupe"]++ })
		r.log.Error("delivery not recorded", "key", lease.Key.ID(), "error", err)
	}
}

func (r *run) release(ctx context.Context, lease dedupe.Lease) {
	sctx, cancel := storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := r.h.d.Store.Release(sctx, lease); err != nil {
		r.log.Warn("lease not released; it expires by itself", "key", lease.Key.ID(), "error", err)
	}
}

// send makes up to sendAttempts attempts at m, which carries the verdicts
// keys, while the invocation's delivery time allows, honouring the
// channel's Retry-After. After an attempt whose answer was lost it repeats
// only on a channel that ignores a repeated key; elsewhere a later
// invocation settles it through the attempt record. unsure reports that m
// was not known to be sent yet may have been.
func (r *run) send(ctx context.Context, sink notify.Sink, mode settleMode, m notify.Message, keys []string, what string) (out notify.Outcome, unsure bool) {
	for attempt := 0; attempt < sendAttempts; attempt++ {
		// The sink bounds the request itself once the channel's pace lets it
		// go (notify.SendTimeout); the wait for the pace is bounded only by
		// the delivery time.
		cctx, cancel := context.WithDeadline(ctx, r.times.notifyUntil)
		if s, ok := sink.(notify.Searcher); ok {
			out = s.SendCarrying(cctx, m, keys)
		} else {
			out = sink.Send(cctx, m)
		}
		cancel()
		if out.Status == notify.Sent {
			r.tally.add(func(rep *Report) { rep.Notified[sink.Name()]++ })
			r.log.Info("notified", "channel", sink.Name(), "task", what, "attempt", attempt+1)
			return out, false
		}
		unsure = unsure || !surelyUnsent(out)
		r.log.Warn("notification not sent", "channel", sink.Name(), "task", what, "attempt", attempt+1,
			"status", out.Status.String(), "ambiguous", out.Ambiguous, "reason", out.Reason, "error", errText(out.Err))
		if out.Status != notify.Retry || (out.Ambiguous && mode == historyMode) {
			break
		}
		wait := max(out.RetryAfter, time.Duration(500<<attempt)*time.Millisecond)
		if r.h.d.Now().Add(wait).After(r.times.notifyUntil) || !sleep(ctx, wait) {
			break
		}
	}
	r.tally.add(func(rep *Report) { rep.NotifyFailed[sink.Name()]++ })
	return out, unsure
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
			m := sink.Started(j.task)
			m.Key = key.ID()
			cctx, cancel := context.WithDeadline(ctx, r.times.callUntil)
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
			m := sink.OperatorAlert(notify.Alert{Cause: c, Detail: a.detail, Affected: a.affected})
			m.Key = key.ID()
			if out, _ := r.send(ctx, sink, plainMode, m, []string{m.Key}, "operator alert"); out.Status == notify.Sent {
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
