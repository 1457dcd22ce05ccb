package handler

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"precheckwatch/ledger"
	"precheckwatch/notify"
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

// recordTimeout bounds one call to the delivery record: Redis answers in a
// millisecond, and one that hangs must cost a verdict its turn, not the
// invocation its time to hand every task on.
const recordTimeout = 2 * time.Second

// recordCtx bounds a call to the delivery record by recordTimeout and by
// the time kept to hand every task on. It outlives ctx's cancellation, so a
// send that went out is recorded as the invocation winds down, but never
// runs past the deadline: a send left unrecorded is settled by its attempt
// record instead (see settle.go).
func (r *run) recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithoutCancel(ctx), earliest(r.times.handUntil, r.h.d.Now().Add(recordTimeout)))
}

// startedVerdict is the verdict of a "precheck running" notice's key.
const startedVerdict = "STARTED"

// pendingItem is a verdict this invocation holds the lease to send.
type pendingItem struct {
	k     int // index into the jobs
	lease ledger.Lease
	// prior is the latest earlier attempt that may have gone out.
	prior *ledger.Attempt
}

func (it pendingItem) key() ledger.Key { return it.lease.Key }

func leasesOf(items []pendingItem) []ledger.Lease {
	out := make([]ledger.Lease, len(items))
	for i, it := range items {
		out[i] = it.lease
	}
	return out
}

// deliverTo sends each job's verdict to one channel, one message a task,
// or digests when many tasks finished together (or when the invocation has
// begun sending digests: asDigest), after settling earlier attempts whose
// answer was lost. It returns which jobs the channel now has. Two messages
// of one task (a requeued copy beside an original whose delete failed)
// carry one verdict: it is claimed and sent once, and the copy shares its
// fate.
func (r *run) deliverTo(ctx context.Context, sink notify.Sink, jobs []*job, asDigest bool) []bool {
	var unique []*job
	index := map[ledger.Key]int{} // by verdict: its job in unique
	of := make([]int, len(jobs))  // by job: its verdict's job in unique
	for k, j := range jobs {
		key := verdictKey(j, sink.Name())
		i, ok := index[key]
		if !ok {
			i = len(unique)
			index[key] = i
			unique = append(unique, j)
		}
		of[k] = i
	}
	got := r.deliverEach(ctx, sink, unique, asDigest)
	done := make([]bool, len(jobs))
	for k := range jobs {
		done[k] = got[of[k]]
	}
	return done
}

// deliverEach is deliverTo for jobs of distinct verdicts.
func (r *run) deliverEach(ctx context.Context, sink notify.Sink, jobs []*job, asDigest bool) []bool {
	done := make([]bool, len(jobs))
	mode := modeOf(sink)
	keys := make([]ledger.Key, len(jobs))
	for k, j := range jobs {
		keys[k] = verdictKey(j, sink.Name())
	}
	claims, ok := r.claim(ctx, keys)
	if !ok {
		return done
	}
	var fresh, retries []pendingItem
	for k, c := range claims {
		switch c.State {
		case ledger.Sent:
			done[k] = true
		case ledger.Claimed:
			it := pendingItem{k: k, lease: c.Lease, prior: c.Prior}
			if it.prior == nil && jobs[k].forgotten {
				it.prior = r.forgottenAttempt(keys[k])
			}
			if mode != plainMode && it.prior != nil {
				retries = append(retries, it)
			} else {
				fresh = append(fresh, it)
			}
		}
	}
	switch mode {
	case historyMode:
		fresh = append(fresh, r.findInHistory(ctx, sink.(notify.Searcher), retries, done)...)
	case idempotentMode:
		r.repeat(ctx, sink, jobs, retries, done)
	}
	if len(fresh) > r.h.cfg.DigestThreshold || asDigest && len(fresh) > 1 {
		for _, page := range r.digestPages(sink, jobs, fresh) {
			r.deliverDigest(ctx, sink, mode, page.items, page.msg, done)
		}
		return done
	}
	threads := r.threads(ctx, sink, jobs, fresh)
	for _, it := range fresh {
		done[it.k] = r.deliverOne(ctx, sink, mode, jobs[it.k], it, threads[it.k])
	}
	return done
}

func verdictKey(j *job, channel string) ledger.Key {
	return ledger.Key{TaskID: j.task.TaskID, Channel: channel, Verdict: string(j.outcome.Verdict)}
}

func startedKey(j *job, channel string) ledger.Key {
	return ledger.Key{TaskID: j.task.TaskID, Channel: channel, Verdict: startedVerdict}
}

// threads returns, by job index, the running notice each fresh verdict
// threads under on a channel whose posts can be updated: channel and ts, as
// the ledger recorded the notice's send.
func (r *run) threads(ctx context.Context, sink notify.Sink, jobs []*job, items []pendingItem) map[int]string {
	if _, ok := sink.(notify.Updater); !ok || !r.h.cfg.NotifyStarted || len(items) == 0 {
		return nil
	}
	keys := make([]ledger.Key, len(items))
	for i, it := range items {
		keys[i] = startedKey(jobs[it.k], sink.Name())
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	refs, err := r.h.d.Ledger.SentRefs(sctx, keys)
	if err != nil {
		r.ledgerError("look up running notices", err)
		return nil
	}
	out := map[int]string{}
	for i, it := range items {
		if ref, ok := refs[keys[i]]; ok {
			out[it.k] = ref
		}
	}
	return out
}

// repeat sends again, under the same key, the message each earlier attempt
// went out in, on a channel that ignores a repeated key: one send per
// message, however many of its verdicts this invocation holds.
func (r *run) repeat(ctx context.Context, sink notify.Sink, jobs []*job, items []pendingItem, done []bool) {
	byMsg := map[string][]pendingItem{}
	var order []string
	for _, it := range items {
		if byMsg[it.prior.Message] == nil {
			order = append(order, it.prior.Message)
		}
		byMsg[it.prior.Message] = append(byMsg[it.prior.Message], it)
	}
	for _, msg := range order {
		group := byMsg[msg]
		var m notify.Message
		if msg == group[0].key().ID() {
			m = r.verdictMessage(sink, jobs[group[0].k], group[0].key(), "")
		} else {
			var err error
			if m, err = r.keptMessage(ctx, sink, msg); err != nil {
				r.ledgerError("read a digest to repeat", err)
				r.release(ctx, group)
				continue
			}
		}
		// A repeat that surely failed proves nothing about the first
		// attempt: the message stays bound, nothing is made void.
		out, _ := r.send(ctx, sink, idempotentMode, m, nil, fmt.Sprintf("repeat of %s", msg))
		if out.Sent() {
			r.tally.add(func(rep *Report) { rep.Repeated[sink.Name()]++ })
		}
		r.recordSend(ctx, group, out, done)
	}
}

// verdictMessage renders j's verdict for sink, threaded under thread
// ("channel ts" of its running notice) when there is one.
func (r *run) verdictMessage(sink notify.Sink, j *job, key ledger.Key, thread string) notify.Message {
	m := sink.Verdict(j.task, *j.outcome)
	m.Key = key.ID()
	if _, ts, threaded := strings.Cut(thread, " "); threaded {
		m.ThreadOf = ts
	}
	return m
}

// deliverOne sends one task's verdict under the delivery record.
func (r *run) deliverOne(ctx context.Context, sink notify.Sink, mode settleMode, j *job, it pendingItem, thread string) bool {
	m := r.verdictMessage(sink, j, it.key(), thread)
	items := []pendingItem{it}
	attempt := ledger.Attempt{Message: m.Key, At: r.h.d.Now()}
	if mode != plainMode && !r.noteAttempt(ctx, items, attempt, nil) {
		return false
	}
	out, unsure := r.send(ctx, sink, mode, m, []string{m.Key}, j.task.TaskID)
	if !out.Sent() {
		r.unsent(ctx, mode, items, attempt.Message, unsure)
		return false
	}
	r.markSent(ctx, items, out)
	channel, ts, threaded := strings.Cut(thread, " ")
	if u, ok := sink.(notify.Updater); ok && threaded {
		m.ThreadOf = ""
		if up := u.Update(ctx, channel, ts, m); !up.Sent() {
			r.log.Warn("running notice not updated", "taskId", j.task.TaskID, "channel", sink.Name(), "error", up.Err)
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
// is only recorded as sent by a message that shows it.
func (r *run) digestPages(sink notify.Sink, jobs []*job, items []pendingItem) []digestPage {
	finished := make([]notify.Finished, len(items))
	byTask := make(map[string]pendingItem, len(items))
	for i, it := range items {
		j := jobs[it.k]
		finished[i] = notify.Finished{Task: j.task, Outcome: *j.outcome}
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

// deliverDigest sends m, the digest of the items, after binding all of them
// to it in one step.
func (r *run) deliverDigest(ctx context.Context, sink notify.Sink, mode settleMode, items []pendingItem, m notify.Message, done []bool) {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key().ID()
	}
	// Every digest is a message of its own, so a repeat of an earlier one
	// cannot be mistaken for it.
	m.Key = "digest-" + strings.ToLower(rand.Text())
	attempt := ledger.Attempt{Message: m.Key, At: r.h.d.Now()}
	if mode != plainMode {
		var body []byte
		if mode == idempotentMode {
			var err error
			if body, err = keptBody(m); err != nil {
				r.log.Error("digest not kept; not sending", "key", m.Key, "error", err)
				r.release(ctx, items)
				return
			}
		}
		if !r.noteAttempt(ctx, items, attempt, body) {
			return
		}
	}
	out, unsure := r.send(ctx, sink, mode, m, keys, fmt.Sprintf("digest of %d", len(items)))
	if !out.Sent() {
		r.unsent(ctx, mode, items, attempt.Message, unsure)
		return
	}
	r.recordSend(ctx, items, out, done)
}

// recordSend records items as sent when out was sent, else releases
// them for a later attempt.
func (r *run) recordSend(ctx context.Context, items []pendingItem, out notify.Outcome, done []bool) {
	if !out.Sent() {
		r.release(ctx, items)
		return
	}
	r.markSent(ctx, items, out)
	for _, it := range items {
		done[it.k] = true
	}
}

// claim takes the right to send keys, one channel's page, in one call; ok
// is false when the record cannot be reached, and then nothing is sent: a
// verdict not sent now is sent later, a verdict sent twice cannot be taken
// back.
func (r *run) claim(ctx context.Context, keys []ledger.Key) ([]ledger.Claim, bool) {
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	cs, err := r.h.d.Ledger.Claim(sctx, keys, r.leaseTTL())
	if err != nil {
		r.ledgerError("claim", err)
		return nil, false
	}
	return cs, true
}

// noteAttempt binds items to the message about to go out; when it cannot,
// it releases them and reports false: nothing is sent.
func (r *run) noteAttempt(ctx context.Context, items []pendingItem, a ledger.Attempt, body []byte) bool {
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	if err := r.h.d.Ledger.NoteAttempt(sctx, leasesOf(items), a, body); err != nil {
		r.ledgerError("note attempt; not sending", err)
		r.release(ctx, items)
		return false
	}
	return true
}

// markRetryPause is the pause between attempts at recording a send.
const markRetryPause = 100 * time.Millisecond

// markSent records items as sent by out. The message went out, so its
// record is worth every moment left before the hand-on deadline, not one
// recordTimeout: the leases keep other holders off until after the
// deadline, and a record given up on makes a channel that can be neither
// searched nor repeated (Feishu's custom bot) post the verdicts again in
// another message once they lapse. When the record still cannot be
// written, the attempt noted before the send stands, and a later turn
// settles it.
func (r *run) markSent(ctx context.Context, items []pendingItem, out notify.Outcome) {
	ref := strings.TrimSpace(out.Channel + " " + out.Ref)
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), r.times.handUntil)
	defer cancel()
	for {
		err := r.h.d.Ledger.MarkSent(sctx, leasesOf(items), ref)
		if err == nil {
			return
		}
		if errors.Is(err, ledger.ErrClosed) || !sleep(sctx, markRetryPause) {
			r.ledgerError("mark sent", err)
			return
		}
	}
}

// unsent frees items after a send that surely did not go out, or releases
// them when it may have.
func (r *run) unsent(ctx context.Context, mode settleMode, items []pendingItem, message string, unsure bool) {
	if mode == plainMode || unsure {
		r.release(ctx, items)
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	if err := r.h.d.Ledger.VoidAttempt(sctx, leasesOf(items), message); err != nil {
		// The attempt stands: a later turn settles it by search or repeat.
		r.log.Warn("failed send not recorded; it will be settled later", "key", message, "error", err)
	}
}

func (r *run) release(ctx context.Context, items []pendingItem) {
	if len(items) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	if err := r.h.d.Ledger.Release(sctx, leasesOf(items)); err != nil {
		r.log.Warn("leases not released; they expire by themselves", "leases", len(items), "error", err)
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
		if out.Sent() {
			now := r.h.d.Now()
			r.tally.add(func(rep *Report) {
				rep.Notified[sink.Name()]++
				span(&rep.Timeline.FirstPosted, &rep.Timeline.LastPosted, now)
			})
			r.log.Info("notified", "channel", sink.Name(), "task", what, "attempt", attempt+1)
			return out, false
		}
		unsure = unsure || !surelyUnsent(out)
		r.log.Warn("notification not sent", "channel", sink.Name(), "task", what, "attempt", attempt+1,
			"class", out.Err.Class.String(), "ambiguous", out.Ambiguous, "error", out.Err)
		if !out.Err.Class.Retryable() || (out.Ambiguous && mode == historyMode) {
			break
		}
		wait := max(out.Err.RetryAfter, time.Duration(500<<attempt)*time.Millisecond)
		if r.h.d.Now().Add(wait).After(r.times.notifyUntil) || !sleep(ctx, wait) {
			break
		}
	}
	r.tally.add(func(rep *Report) { rep.NotifyFailed[sink.Name()]++ })
	return out, unsure
}

// announceStart posts the "precheck running" notice on each channel, so
// that a Slack verdict can later thread under it (the ledger keeps where).
func (r *run) announceStart(ctx context.Context, j *job) {
	for _, sink := range r.h.d.Sinks {
		claims, ok := r.claim(ctx, []ledger.Key{startedKey(j, sink.Name())})
		if !ok || claims[0].State != ledger.Claimed {
			continue
		}
		items := []pendingItem{{lease: claims[0].Lease}}
		m := sink.Started(j.task)
		m.Key = claims[0].Lease.Key.ID()
		cctx, cancel := context.WithDeadline(ctx, r.times.callUntil)
		out := sink.Send(cctx, m)
		cancel()
		if !out.Sent() {
			r.release(ctx, items)
			continue
		}
		r.tally.add(func(rep *Report) { rep.Notified[sink.Name()]++ })
		r.markSent(ctx, items, out)
	}
}

// alertWindow is how often one cause may alert the operator on a channel.
const alertWindow = time.Hour

// alertOperators sends one alert per cause (a credentials or permission
// failure, an unreachable delivery record) per channel per window, however
// many tasks it held up. The window is kept in the ledger, shared by every
// instance, or, when the ledger is what fails, in this instance's memory.
func (r *run) alertOperators(ctx context.Context) {
	r.mu.Lock()
	causes := r.causes
	r.causes = map[string]*alertCause{}
	r.mu.Unlock()
	window := r.h.d.Now().Truncate(alertWindow).UTC().Format("2006010215")
	for c, a := range causes {
		for _, sink := range r.h.d.Sinks {
			key := ledger.AlertKey(sink.Name(), c, window)
			var items []pendingItem
			if c == recordCause {
				// The record is what failed: asking it would only wait.
				if !r.h.alerted.first(key, r.h.d.Now()) {
					continue
				}
			} else if claims, ok := r.claim(ctx, []ledger.Key{key}); ok {
				if claims[0].State != ledger.Claimed {
					continue
				}
				items = []pendingItem{{lease: claims[0].Lease}}
			} else if !r.h.alerted.first(key, r.h.d.Now()) {
				continue
			}
			alert := a.alert
			alert.Affected = a.affected
			m := sink.OperatorAlert(alert)
			m.Key = key.ID()
			out, _ := r.send(ctx, sink, plainMode, m, []string{m.Key}, "operator alert")
			if !out.Sent() {
				if items == nil {
					r.h.alerted.forget(key)
				}
				r.release(ctx, items)
				continue
			}
			r.tally.add(func(rep *Report) { rep.Alerted++ })
			if items != nil {
				r.markSent(ctx, items, out)
			}
		}
	}
}
