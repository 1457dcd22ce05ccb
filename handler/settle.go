package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"precheckwatch/dedupe"
	"precheckwatch/notify"
)

// A send whose answer is lost (a timeout after the request left, or the
// process killed mid-send) may or may not have posted. The delivery record
// settles it instead of guessing, channel by channel:
//
//   - A searchable channel (notify.Searcher) tags every post with the keys
//     of the verdicts it carries, and before a verdict that was attempted before
//     is sent again, its history is searched for such a post.
//   - An idempotent channel (notify.Idempotent: a repeated key is a no-op)
//     binds each verdict to the message it first went out in, and every later
//     attempt repeats that message under the same key: a digest's text is
//     kept in the record for this.
//
// Either way an attempt record is written before each send, so a kill at
// any moment leaves the trace a later attempt needs; and a send that surely
// posted nothing (refused, throttled, never left) marks its message void,
// so its verdicts are free to go out in another message without a search
// or a repeat.

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

// attemptVerdict suffixes a verdict key's verdict, with a generation, to
// name its attempt records.
const attemptVerdict = "-ATTEMPT"

// contentVerdict names the record of a digest's text on an idempotent
// channel; voidVerdict the record that a message surely did not go out.
const (
	contentVerdict = "CONTENT"
	voidVerdict    = "VOID"
)

// An attempt record says that a verdict went, or was about to go, out in a
// message. Records are written once and never changed, so each new attempt
// after one that surely failed (its message is recorded void) takes the
// next generation: generations 1..n exist, and n is the one that counts.
type attempt struct {
	gen int
	at  time.Time
	// msg is the key of the message the verdict went out in: its own key,
	// or a digest's.
	msg string
}

func (a attempt) ref() string { return strconv.FormatInt(a.at.UnixMilli(), 10) + " " + a.msg }

func parseAttempt(gen int, ref string) (attempt, error) {
	ms, msg, ok := strings.Cut(ref, " ")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || msg == "" {
		return attempt{}, fmt.Errorf("unreadable attempt record %q", ref)
	}
	return attempt{gen: gen, at: time.UnixMilli(n), msg: msg}, nil
}

func attemptKey(k dedupe.Key, gen int) dedupe.Key {
	return dedupe.Key{TaskID: k.TaskID, Channel: k.Channel, Verdict: k.Verdict + attemptVerdict + strconv.Itoa(gen)}
}

func voidKey(msg, channel string) dedupe.Key {
	return dedupe.Key{TaskID: msg, Channel: channel, Verdict: voidVerdict}
}

func contentKey(msg, channel string) dedupe.Key {
	return dedupe.Key{TaskID: msg, Channel: channel, Verdict: contentVerdict}
}

// lookup reads one record under the store's call timeout.
func (r *run) lookup(ctx context.Context, key dedupe.Key) (string, bool, error) {
	sctx, cancel := storeCtx(ctx)
	defer cancel()
	return r.h.d.Store.Lookup(sctx, key)
}

// latestAttempt returns the newest attempt record of key, nil when there is
// none, and whether its message surely did not go out. Generations are
// found by doubling, then halving: a few lookups however many there are.
func (r *run) latestAttempt(ctx context.Context, key dedupe.Key) (*attempt, bool, error) {
	refs := map[int]string{}
	exists := func(gen int) (bool, error) {
		ref, found, err := r.lookup(ctx, attemptKey(key, gen))
		if found {
			refs[gen] = ref
		}
		return found, err
	}
	lo, hi := 0, 1 // generation lo exists (0 always does), hi does not
	for {
		found, err := exists(hi)
		if err != nil {
			return nil, false, err
		}
		if !found {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		found, err := exists(mid)
		if err != nil {
			return nil, false, err
		}
		if found {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return nil, false, nil
	}
	a, err := parseAttempt(lo, refs[lo])
	if err != nil {
		return nil, false, err
	}
	_, void, err := r.lookup(ctx, voidKey(a.msg, key.Channel))
	if err != nil {
		return nil, false, err
	}
	return &a, void, nil
}

// noteAttempt records, before the send, that key goes out in message msg,
// as the generation after prior's (the first when prior is nil).
func (r *run) noteAttempt(ctx context.Context, key dedupe.Key, prior *attempt, msg string) error {
	gen := 1
	if prior != nil {
		gen = prior.gen + 1
	}
	return r.writeOnce(ctx, attemptKey(key, gen), attempt{at: r.h.d.Now(), msg: msg}.ref(), true)
}

// noteVoid records that message msg surely did not go out, so that its
// verdicts may go out in another. Failing to record it costs only a search
// or a repeat later.
func (r *run) noteVoid(ctx context.Context, channel, msg string) {
	if err := r.writeOnce(ctx, voidKey(msg, channel), "void", false); err != nil {
		r.log.Warn("failed send not recorded; it will be settled later", "key", msg, "error", err)
	}
}

// writeOnce records ref under key. With exclusive, an existing record is an
// error (another attempt took this generation); without, it is kept.
func (r *run) writeOnce(ctx context.Context, key dedupe.Key, ref string, exclusive bool) error {
	sctx, cancel := storeCtx(ctx)
	defer cancel()
	c, err := r.h.d.Store.Claim(sctx, key, r.leaseTTL())
	switch {
	case err != nil:
		return err
	case c.State == dedupe.Delivered && !exclusive:
		return nil
	case c.State != dedupe.Claimed:
		return fmt.Errorf("record %s was written by another attempt", key.ID())
	}
	dctx, dcancel := storeCtx(context.WithoutCancel(ctx))
	defer dcancel()
	return r.h.d.Store.Done(dctx, c.Lease, ref)
}

// keepContent records a digest's content under its key, before the digest
// is first sent, so that any later attempt repeats it exactly.
func (r *run) keepContent(ctx context.Context, channel string, m notify.Message) error {
	b, err := json.Marshal(m.Content)
	if err != nil {
		return err
	}
	return r.writeOnce(ctx, contentKey(m.Key, channel), string(b), false)
}

// keptMessage returns the digest msg as first attempted on sink, an
// idempotent channel.
func (r *run) keptMessage(ctx context.Context, sink notify.Sink, msg string) (notify.Message, error) {
	ref, found, err := r.lookup(ctx, contentKey(msg, sink.Name()))
	switch {
	case err != nil:
		return notify.Message{}, err
	case !found:
		return notify.Message{}, fmt.Errorf("no record of digest %s's text", msg)
	}
	c, err := sink.(notify.Idempotent).Restore([]byte(ref))
	if err != nil {
		return notify.Message{}, fmt.Errorf("digest %s: %w", msg, err)
	}
	return notify.Message{Key: msg, Content: c}, nil
}

// settle decides items whose last attempt on a history channel may have
// gone out, with one search back to the oldest of those attempts: those
// found are recorded as delivered, those not found are returned to be sent,
// and when the search fails all are released for a later attempt.
func (r *run) settle(ctx context.Context, s notify.Searcher, items []pendingItem, done []bool) []pendingItem {
	if len(items) == 0 {
		return nil
	}
	keys := make([]string, len(items))
	since := items[0].prior.at
	for i, it := range items {
		keys[i] = it.key.ID()
		if it.prior.at.Before(since) {
			since = it.prior.at
		}
	}
	cctx, cancel := context.WithDeadline(ctx, r.times.notifyUntil)
	found, err := s.Find(cctx, keys, since.Add(-findSkew))
	cancel()
	if err != nil {
		r.log.Warn("earlier attempts not settled; retrying later", "channel", s.Name(), "verdicts", len(items), "error", err)
		for _, it := range items {
			r.release(ctx, it.lease)
		}
		return nil
	}
	var unsent []pendingItem
	for _, it := range items {
		if out, ok := found[it.key.ID()]; ok {
			r.log.Info("earlier attempt found delivered", "key", it.key.ID(), "channel", s.Name())
			r.record(ctx, it.lease, out)
			done[it.k] = true
		} else {
			unsent = append(unsent, it)
		}
	}
	return unsent
}

// surelyUnsent reports whether a failed send certainly posted nothing: an
// answer refused it, or it never left. An HTTP 5xx page may come from a
// gateway that did pass the request on, so it is not sure.
func surelyUnsent(out notify.Outcome) bool {
	return out.Status != notify.Sent && !out.Ambiguous && !strings.HasPrefix(out.Reason, "http_5")
}
