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
//   - A settling channel (the Slack bot) tags every post with the keys of
//     the verdicts it carries, and before a verdict that was attempted before
//     is sent again, its history is searched for such a post.
//   - An idempotent channel (DingTalk, whose msgUuid makes a repeat a no-op)
//     binds each verdict to the message it first went out in, and every later
//     attempt repeats that message under the same key: a digest's text is
//     kept in the record for this.
//
// Either way an attempt record is written before the first send, so a kill
// at any moment leaves the trace a later attempt needs.

// settler is a channel whose history tells whether a post went out.
type settler interface {
	notify.Sink
	// SendCarrying posts m tagged with the keys of every verdict it carries.
	SendCarrying(ctx context.Context, m notify.Message, keys []string) notify.Outcome
	// Find returns a Sent outcome for a post carrying key made since since,
	// the zero Outcome when there is none, or an error when it cannot tell.
	Find(ctx context.Context, key string, since time.Time) (notify.Outcome, error)
}

// settleMode is how a channel's lost answers are settled.
type settleMode int

const (
	// plainMode channels can be neither searched nor repeated safely (a
	// Slack incoming webhook): a lost answer is sent again, at least once.
	plainMode settleMode = iota
	historyMode
	idempotentMode
)

func modeOf(sink notify.Sink) settleMode {
	switch {
	case isSettler(sink):
		return historyMode
	case sink.Name() == notify.DingTalkName:
		return idempotentMode
	}
	return plainMode
}

func isSettler(sink notify.Sink) bool {
	_, ok := sink.(settler)
	return ok
}

// findSkew widens a history search for clock differences between
// instances and the channel.
const findSkew = time.Minute

// attemptVerdict suffixes a verdict key's verdict to name its attempt record.
const attemptVerdict = "-ATTEMPT"

// contentVerdict names the record of a digest's text on an idempotent
// channel.
const contentVerdict = "CONTENT"

// attempt is the record of the first attempt at a verdict on a channel.
type attempt struct {
	at time.Time
	// msg is the key of the message the verdict first went out in: its own
	// key, or a digest's.
	msg string
}

func (a attempt) ref() string { return strconv.FormatInt(a.at.UnixMilli(), 10) + " " + a.msg }

func parseAttempt(ref string) (attempt, error) {
	ms, msg, ok := strings.Cut(ref, " ")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || msg == "" {
		return attempt{}, fmt.Errorf("unreadable attempt record %q", ref)
	}
	return attempt{at: time.UnixMilli(n), msg: msg}, nil
}

func attemptKey(k dedupe.Key) dedupe.Key {
	return dedupe.Key{TaskID: k.TaskID, Channel: k.Channel, Verdict: k.Verdict + attemptVerdict}
}

// priorAttempt returns the record of an earlier attempt at key, if any.
func (r *run) priorAttempt(ctx context.Context, key dedupe.Key) (*attempt, error) {
	sctx, cancel := storeCtx(ctx)
	defer cancel()
	ref, found, err := r.h.d.Store.Lookup(sctx, attemptKey(key))
	if err != nil || !found {
		return nil, err
	}
	a, err := parseAttempt(ref)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// noteAttempt records that key is about to go out in message msg. An
// earlier record is kept: it is the first attempt that bounds a search and
// binds a verdict to its message.
func (r *run) noteAttempt(ctx context.Context, key dedupe.Key, msg string) error {
	return r.writeOnce(ctx, attemptKey(key), attempt{at: r.h.d.Now(), msg: msg}.ref())
}

// writeOnce records ref under key unless a record exists.
func (r *run) writeOnce(ctx context.Context, key dedupe.Key, ref string) error {
	sctx, cancel := storeCtx(ctx)
	defer cancel()
	c, err := r.h.d.Store.Claim(sctx, key, r.leaseTTL())
	switch {
	case err != nil:
		return err
	case c.State == dedupe.Delivered:
		return nil
	case c.State == dedupe.Busy:
		return fmt.Errorf("record %s is being written by another instance", key.ID())
	}
	dctx, dcancel := storeCtx(context.WithoutCancel(ctx))
	defer dcancel()
	return r.h.d.Store.Done(dctx, c.Lease, ref)
}

func contentKey(msg, channel string) dedupe.Key {
	return dedupe.Key{TaskID: msg, Channel: channel, Verdict: contentVerdict}
}

// keepContent records a digest's DingTalk text under its key, before the
// digest is first sent, so that any later attempt repeats it exactly.
func (r *run) keepContent(ctx context.Context, channel string, m notify.Message) error {
	b, err := json.Marshal(m.DingTalk)
	if err != nil {
		return err
	}
	return r.writeOnce(ctx, contentKey(m.Key, channel), string(b))
}

// keptMessage returns the digest msg as first attempted on channel.
func (r *run) keptMessage(ctx context.Context, channel, msg string) (notify.Message, error) {
	sctx, cancel := storeCtx(ctx)
	defer cancel()
	ref, found, err := r.h.d.Store.Lookup(sctx, contentKey(msg, channel))
	switch {
	case err != nil:
		return notify.Message{}, err
	case !found:
		return notify.Message{}, fmt.Errorf("no record of digest %s's text", msg)
	}
	m := notify.Message{Key: msg}
	if err := json.Unmarshal([]byte(ref), &m.DingTalk); err != nil {
		return notify.Message{}, fmt.Errorf("digest %s's text: %w", msg, err)
	}
	return m, nil
}

// settle decides items attempted before on a history channel: those found
// in the history are recorded as delivered, those not found are returned to
// be sent, and those it cannot tell about are released for a later attempt.
func (r *run) settle(ctx context.Context, s settler, items []pendingItem, done []bool) []pendingItem {
	var unsent []pendingItem
	for _, it := range items {
		cctx, cancel := context.WithDeadline(ctx, r.times.notifyUntil)
		out, err := s.Find(cctx, it.key.ID(), it.prior.at.Add(-findSkew))
		cancel()
		switch {
		case err != nil:
			r.log.Warn("earlier attempt not settled; retrying later", "key", it.key.ID(), "error", err)
			r.release(ctx, it.lease)
		case out.Status == notify.Sent:
			r.log.Info("earlier attempt found delivered", "key", it.key.ID(), "channel", s.Name())
			r.record(ctx, it.lease, out)
			done[it.k] = true
		default:
			unsent = append(unsent, it)
		}
	}
	return unsent
}
