// Package ledger is the delivery record of precheckwatch: what the function
// knows about each task and each notification, kept outside the queue so that
// a message body carries data, never authority.
//
// A task's record holds when the function first saw it (TASK_DEADLINE counts
// from there) and, once decided, its sealed outcome: the first verdict decided
// is the one every channel gets, and a message that comes back later is
// answered from the record, not from its body. Once every channel has the
// verdict the task is retired: its record keeps only that it is done.
//
// A notification (a task's verdict, or its "precheck running" notice, on one
// channel) goes through these operations, in this order:
//
//	claims, _ := l.Claim(ctx, keys, ttl)     // per key: Sent, Busy, or Claimed with its prior Attempt
//	l.NoteAttempt(ctx, leases, attempt, body) // before the send: every verdict bound to the message at once
//	out := send(...)
//	l.MarkSent(ctx, leases, ref)             // it went out
//	l.VoidAttempt(ctx, leases, attempt.Message) // it surely did not: the verdicts are free again
//	l.Release(ctx, leases)                    // not sure, or not sent: a later turn decides
//
// A lease keeps two instances from sending the same notification at once;
// it must outlive the send it covers, and a holder that dies lets it expire.
// An attempt written before the send is what settles a send whose answer was
// lost, or whose MarkSent could not be written: the next holder finds it in
// Claim's answer and settles it through the channel (history search, or a
// repeat under the same idempotency key) instead of sending blind.
//
// Messages delivered inside an EventBridge event are handed on (requeued,
// dead-lettered or finished) once: ClaimHandOn, then MarkHandedOn or
// Release, so a retried event does not requeue them again.
//
// Redis (redis:// or rediss://) is the ledger shared by every instance; the
// memory ledger covers one process. Every record lives for Retention, leases
// for their TTL.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// Retention is how long a record is kept. It far exceeds the longest a task
// stays on the queue (TASK_DEADLINE, 2h by default) plus the queue's own
// message retention.
const Retention = 30 * 24 * time.Hour

// ErrClosed is returned by a ledger used after Close.
var ErrClosed = errors.New("ledger: closed")

// ErrLeaseLost is returned by NoteAttempt when some lease is no longer the
// caller's: another holder may be sending, so this one must not.
var ErrLeaseLost = errors.New("ledger: lease lost")

// State is a notification's state as Claim found it.
type State int

// The answers to a Claim.
const (
	// Claimed: the caller holds the lease and should send (settling Prior
	// first when there is one), then MarkSent, VoidAttempt or Release.
	Claimed State = iota + 1
	// Sent: the notification went out; Claim.Ref is what the send returned.
	Sent
	// Busy: another holder's lease is live; it is sending right now.
	Busy
)

// String names the state for logs.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Sent:
		return "sent"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Lease is the right to send one notification, held until MarkSent,
// VoidAttempt, Release or its TTL. Only Claim makes a valid Lease.
type Lease struct {
	Key   Key
	token string // unique per claim, so a stale holder is told apart
}

// Attempt says that a notification went, or was about to go, out in a
// message, and when. A message carries one verdict or a digest of many.
type Attempt struct {
	// Message is the message's idempotency key (DingTalk's msgUuid, the tag
	// a Slack post carries), unique per message.
	Message string
	At      time.Time
}

// Claim is the answer to Claim for one key.
type Claim struct {
	State State
	// Ref is the sent notification's reference (e.g. Slack channel and ts)
	// when State is Sent.
	Ref string
	// Lease is held when State is Claimed.
	Lease Lease
	// Prior is the latest attempt that may have gone out, when State is
	// Claimed and there is one: its outcome is unknown.
	Prior *Attempt
}

// Requeued is a task's message put back on the queue with its check count.
type Requeued struct {
	TaskID  string
	Attempt int
}

// TaskRecord is what the ledger knows of one task.
type TaskRecord struct {
	// FirstSeen is when the function first saw the task.
	FirstSeen time.Time
	// New reports that this Recall recorded the first sight.
	New bool
	// Requeued is the check count of the task's newest message put back on
	// the queue (see NoteRequeued): a message with a lower one is a stale
	// copy, left by a delete that failed.
	Requeued int
	// Outcome is the task's sealed verdict, nil until one is decided.
	Outcome *precheck.Outcome
	// Done reports that the task was retired (see Retire): every channel
	// has its verdict, and nothing more is to be posted for it. A retired
	// record keeps nothing else: FirstSeen is zero and Outcome nil.
	Done bool
}

// Ledger is the delivery record. Implementations are safe for concurrent
// use. Calls that take many keys make one round trip and must be given keys
// of one channel.
type Ledger interface {
	// Recall returns each task's record, first recording now as the first
	// sight of a task never seen before.
	Recall(ctx context.Context, taskIDs []string, now time.Time) ([]TaskRecord, error)
	// NoteRequeued records, after they were sent, the check counts of the
	// tasks' messages put back on the queue; a lower count never replaces
	// a higher one.
	NoteRequeued(ctx context.Context, requeued []Requeued) error
	// Seal records each task's outcome (by task id) unless one is sealed
	// already, and returns the sealed ones: the first decision wins. A
	// retired task stays retired and is left out of the answer.
	Seal(ctx context.Context, outcomes map[string]precheck.Outcome) (map[string]precheck.Outcome, error)
	// Retire records that every channel has each task's sealed verdict:
	// the record then keeps only that (TaskRecord.Done) for its retention,
	// not the verdict, so that a finished task costs a few bytes rather
	// than its verdict's size. A message of the task that comes back is
	// recognised as done all the same, and Claim answers Sent for each of
	// the task's notifications that was sent (its Ref may be forgotten).
	// One not yet sent keeps its record; one never claimed may be answered
	// Sent, since nothing more is posted for a retired task.
	Retire(ctx context.Context, taskIDs []string) error

	// Claim reports, per key, Sent if the notification went out, Busy if
	// another holder's lease is live, or else takes a lease for ttl and
	// reports Claimed with the prior attempt, if any.
	Claim(ctx context.Context, keys []Key, ttl time.Duration) ([]Claim, error)
	// NoteAttempt binds every lease's notification to message a, in one
	// atomic step, before the message is sent: all or none. body, when
	// not empty, is kept under a.Message for a later exact repeat (see
	// Body). It fails with ErrLeaseLost, binding nothing, when any lease is
	// no longer the caller's.
	NoteAttempt(ctx context.Context, leases []Lease, a Attempt, body []byte) error
	// MarkSent records the leases' notifications as sent with ref (an
	// earlier recorded ref is kept) and drops the leases still held. It
	// records even when a lease expired: the message went out.
	MarkSent(ctx context.Context, leases []Lease, ref string) error
	// VoidAttempt records that message did surely not go out: the leases'
	// notifications bound to it are free again, with no prior attempt, and
	// the leases are dropped.
	VoidAttempt(ctx context.Context, leases []Lease, message string) error
	// Release drops the leases still held, so a later attempt may claim
	// them. A lease that expired and was claimed by another holder is left
	// to that holder.
	Release(ctx context.Context, leases []Lease) error
	// SentRefs returns the references of those keys (of one channel) that
	// were sent, by key.
	SentRefs(ctx context.Context, keys []Key) (map[Key]string, error)
	// Body returns the body NoteAttempt kept for message on channel, and
	// whether there is one. It is kept while a notification bound to the
	// message is not yet sent, and may be dropped once every one is: no
	// holder then repeats the message.
	Body(ctx context.Context, channel, message string) ([]byte, bool, error)

	// Runs is the record of fleet runs (run.go).
	Runs
	// Tallies is the record of fleet runs' ends (tally.go).
	Tallies

	// Close releases the ledger's connections.
	Close() error
}

// Open opens the ledger a DEDUPE_URL names: "memory://" for a ledger private
// to this process, or a go-redis URL (redis://[user:password@]host:port/db?...,
// rediss:// for TLS) for the ledger shared by every instance. Open does not
// connect; a Redis that cannot be reached is reported by the first call.
// Errors name DEDUPE_URL and never contain its password.
func Open(rawURL string) (Ledger, error) {
	if rawURL == "" {
		return nil, errors.New("DEDUPE_URL is empty; use memory:// or redis://host:port/db")
	}
	// Check the URL without its user info first: url.Parse quotes what it
	// cannot read, and a password holding '/', '?', '#' or '%' would be
	// split into host, path or query and quoted in part.
	bare, hadUser := secret.WithoutUserinfo(rawURL)
	u, err := url.Parse(bare)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("DEDUPE_URL %s is not a URL (%w); use memory:// or redis://host:port/db", secret.RedactURL(rawURL), err)
	}
	if hadUser {
		if full, err := url.Parse(rawURL); err != nil || full.Host != u.Host || full.User == nil {
			return nil, fmt.Errorf("DEDUPE_URL %s: its user:password@ cannot be read as URL user info; "+
				"percent-escape '%%', '/', '?', '#', '@' and spaces in the password (%%25, %%2F, %%3F, %%23, %%40, %%20)", secret.RedactURL(rawURL))
		}
	}
	switch u.Scheme {
	case "memory":
		if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || hadUser {
			return nil, fmt.Errorf("DEDUPE_URL %s: a memory ledger takes no address or options; use memory://", secret.RedactURL(rawURL))
		}
		return NewMemory(), nil
	case "redis", "rediss":
		return openRedis(rawURL)
	}
	return nil, fmt.Errorf("DEDUPE_URL %s: unsupported scheme %q; use memory:// or redis://host:port/db", secret.RedactURL(rawURL), u.Scheme)
}

// handOnChannel is the channel of hand-on records; no chat channel has it.
const handOnChannel = "queue"

// HandOnKey names the record that message, delivered in an event, was
// handed on.
func HandOnKey(message string) Key {
	return Key{TaskID: message, Channel: handOnChannel, Verdict: "handed-on"}
}

// ClaimHandOn takes the right to hand on an event's message: Claimed,
// Sent when an earlier attempt at the event handed it on, or Busy while
// another attempt is at it.
func ClaimHandOn(ctx context.Context, l Ledger, messages []string, ttl time.Duration) ([]Claim, error) {
	keys := make([]Key, len(messages))
	for i, m := range messages {
		keys[i] = HandOnKey(m)
	}
	return l.Claim(ctx, keys, ttl)
}

// MarkHandedOn records that the leases' messages were handed on.
func MarkHandedOn(ctx context.Context, l Ledger, leases []Lease) error {
	return l.MarkSent(ctx, leases, "")
}

// AlertKey names the operator alert about cause on channel within the hour
// window (an UTC hour such as "2026120109"): one alert per cause, channel
// and window.
func AlertKey(channel, cause, window string) Key {
	return Key{TaskID: "operator " + cause, Channel: channel, Verdict: "alert " + window}
}

// checkKeys reports an empty page, an invalid key, or keys of more than one
// channel.
func checkKeys(keys []Key) error {
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return err
		}
		if !plain(k.Channel) {
			return fmt.Errorf("ledger: channel %q is not a plain name", k.Channel)
		}
		if k.Channel != keys[0].Channel {
			return fmt.Errorf("ledger: keys of channels %q and %q in one call", keys[0].Channel, k.Channel)
		}
	}
	return nil
}

func checkLeases(leases []Lease) error {
	keys := make([]Key, len(leases))
	for i, l := range leases {
		if l.token == "" {
			return errors.New("ledger: lease not obtained from Claim")
		}
		keys[i] = l.Key
	}
	return checkKeys(keys)
}

func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("ledger: lease ttl %s is shorter than 1ms", ttl)
	}
	return nil
}

func checkAttempt(a Attempt) error {
	if a.Message == "" || a.At.IsZero() {
		return errors.New("ledger: attempt without message or time")
	}
	return nil
}

func checkTasks(ids []string) error {
	for _, id := range ids {
		if id == "" {
			return errors.New("ledger: empty task id")
		}
	}
	return nil
}
