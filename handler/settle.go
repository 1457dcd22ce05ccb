package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"precheckwatch/ledger"
	"precheckwatch/notify"
)

// A send whose answer is lost (a timeout after the request left, the
// process killed mid-send, or a MarkSent that could not be written before
// the deadline) may or may not have posted. The delivery record settles it
// instead of guessing, channel by channel:
//
//   - A searchable channel (notify.Searcher) tags every post with the keys
//     of the verdicts it carries, and before a verdict that was attempted
//     before is sent again, its history is searched for such a post.
//   - An idempotent channel (notify.Idempotent: a repeated key is a no-op)
//     repeats the message the verdict was bound to, under the same key: a
//     digest's content is kept in the record for this.
//
// Either way the attempt is noted before each send (a digest's verdicts all
// at once), so a kill at any moment leaves the trace a later attempt needs;
// and a send that surely posted nothing (refused, throttled, never left)
// voids its attempt, so its verdicts are free to go out in another message
// without a search or a repeat.

// settleMode is how a channel's lost answers are settled.
type settleMode int

const (
	// plainMode channels can be neither searched nor repeated safely (such
	// as a webhook that answers nothing but "ok"): a lost answer is sent
	// again, at least once.
	plainMode settleMode = iota
	historyMode
	idempotentMode
)

func modeOf(sink notify.Sink) settleMode {
	if _, ok := sink.(notify.Searcher); ok {
		return historyMode
	}
	if _, ok := sink.(notify.Idempotent); ok {
		return idempotentMode
	}
	return plainMode
}

// findSkew widens a history search for clock differences between
// instances and the channel.
const findSkew = time.Minute

// forgottenAttempt stands for the attempts a lost record no longer holds:
// one under the verdict's own key (so DingTalk repeats it as a single
// message) at any time a task could have been posted since it was first
// seen (so the Slack history search reaches back that far).
func (r *run) forgottenAttempt(k ledger.Key) *ledger.Attempt {
	return &ledger.Attempt{Message: k.ID(), At: r.h.d.Now().Add(-2 * r.h.cfg.Policy.Deadline)}
}

// keptBody is what a digest's repeat needs to go out exactly as first sent.
func keptBody(m notify.Message) ([]byte, error) {
	return json.Marshal(m.Content)
}

// keptMessage returns the digest msg as first attempted on sink, an
// idempotent channel.
func (r *run) keptMessage(ctx context.Context, sink notify.Sink, msg string) (notify.Message, error) {
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	body, found, err := r.h.d.Ledger.Body(sctx, sink.Name(), msg)
	switch {
	case err != nil:
		return notify.Message{}, err
	case !found:
		return notify.Message{}, fmt.Errorf("no record of digest %s's content", msg)
	}
	c, err := sink.(notify.Idempotent).Restore(body)
	if err != nil {
		return notify.Message{}, fmt.Errorf("digest %s: %w", msg, err)
	}
	return notify.Message{Key: msg, Content: c}, nil
}

// findInHistory decides items whose last attempt on a history channel may have
// gone out, with one search back to the oldest of those attempts: those
// found are recorded as sent, those not found are returned to be sent,
// and when the search fails all are released for a later attempt.
func (r *run) findInHistory(ctx context.Context, s notify.Searcher, items []pendingItem, done []bool) []pendingItem {
	if len(items) == 0 {
		return nil
	}
	keys := make([]string, len(items))
	since := items[0].prior.At
	for i, it := range items {
		keys[i] = it.key().ID()
		if it.prior.At.Before(since) {
			since = it.prior.At
		}
	}
	cctx, cancel := context.WithDeadline(ctx, r.times.notifyUntil)
	found, err := s.Find(cctx, keys, since.Add(-findSkew))
	cancel()
	if err != nil {
		r.log.Warn("earlier attempts not settled; retrying later", "channel", s.Name(), "verdicts", len(items), "error", err)
		r.release(ctx, items)
		return nil
	}
	var unsent []pendingItem
	for _, it := range items {
		if out, ok := found[it.key().ID()]; ok {
			r.log.Info("earlier attempt found delivered", "key", it.key().ID(), "channel", s.Name())
			r.tally.add(func(rep *Report) { rep.FoundInHistory[s.Name()]++ })
			r.markSent(ctx, []pendingItem{it}, out)
			done[it.k] = true
		} else {
			unsent = append(unsent, it)
		}
	}
	return unsent
}

// surelyUnsent reports whether a failed send certainly posted nothing, as
// the channel's sink classified it.
func surelyUnsent(out notify.Outcome) bool {
	return !out.Sent() && out.Unposted
}
