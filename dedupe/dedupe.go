// Package dedupe is the delivery record of precheckwatch: which notification
// (task, channel, verdict) has been delivered, so that a task seen again after
// a retry, a redelivered event or a crash is never announced twice.
//
// As in Alertmanager's notification log, a send is recorded only after it
// succeeds. Around the send, a short lease keeps two instances from sending
// the same notification at once:
//
//	c, err := store.Claim(ctx, key, leaseTTL)
//	switch c.State {
//	case dedupe.Delivered: // already sent; c.Ref is what the send returned
//	case dedupe.Busy:      // another instance is sending it; try again later
//	case dedupe.Claimed:
//		ref, err := send(ctx)
//		if err != nil {
//			store.Release(ctx, c.Lease) // let a later attempt send it
//		} else {
//			store.Done(ctx, c.Lease, ref)
//		}
//	}
//
// A lease must outlive the send it covers: a holder that crashes simply lets
// it expire. Each claim carries its own token, so a holder that comes back
// after its lease expired and was claimed by another cannot release the new
// holder's lease. Done always records the delivery (the message went out),
// and the first recorded reference is kept. A send that succeeded but could
// not be recorded (Redis down, deadline spent) is sent again once its lease
// expires, so give Done a deadline of its own after a successful send.
//
// Slack threading: a thread parent is itself a notification. Record the
// "precheck running" notice under its own verdict (for example "STARTED") with
// its channel and ts as the reference, and Lookup that key to thread the final
// verdict under it.
//
// Redis (redis:// or rediss://) is the store shared by every instance; the
// memory store covers one process. Records live for Retention, leases for
// their TTL; every Redis key has an expiry.
package dedupe

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"precheckwatch/secret"
)

// Retention is how long a delivery is remembered. It far exceeds the longest
// a task stays on the queue (TASK_DEADLINE, 2h by default) plus the queue's
// own message retention.
const Retention = 30 * 24 * time.Hour

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("dedupe: store closed")

// State is the answer to a Claim.
type State int

// The answers to a Claim.
const (
	// Claimed: the caller holds the lease and should send, then call Done or
	// Release.
	Claimed State = iota + 1
	// Delivered: the notification was already sent; Claim.Ref holds its
	// reference.
	Delivered
	// Busy: another holder's lease is live; it is sending right now.
	Busy
)

// String names the state for logs.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Delivered:
		return "delivered"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Lease is the right to send one notification, held until Done, Release or
// its TTL. Only Claim makes a valid Lease.
type Lease struct {
	Key   Key
	token string // unique per claim, so a stale holder is told apart
}

// Claim is the answer to Store.Claim.
type Claim struct {
	State State
	// Ref is the delivered notification's reference (e.g. Slack channel and
	// ts) when State is Delivered.
	Ref string
	// Lease is held when State is Claimed.
	Lease Lease
}

// Store is the delivery record. Implementations are safe for concurrent use.
type Store interface {
	// Claim reports Delivered if key is recorded as sent, else takes a lease
	// on key for ttl and reports Claimed, or reports Busy if another holder's
	// lease is live.
	Claim(ctx context.Context, key Key, ttl time.Duration) (Claim, error)
	// Done records the lease's key as delivered with ref (kept for
	// Retention; an earlier recorded ref is kept) and releases the lease if
	// it is still this holder's. It records even when the lease has expired:
	// the message went out.
	Done(ctx context.Context, lease Lease, ref string) error
	// Release drops the lease after a failed send so another attempt may
	// claim the key. A lease that expired and was claimed by another holder
	// is left to that holder.
	Release(ctx context.Context, lease Lease) error
	// Lookup reports whether key was delivered, and its reference.
	Lookup(ctx context.Context, key Key) (ref string, delivered bool, err error)
	// Close releases the store's connections.
	Close() error
}

// Open opens the store a DEDUPE_URL names: "memory://" for a store private to
// this process, or a go-redis URL (redis://[user:password@]host:port/db?...,
// rediss:// for TLS) for the store shared by every instance. Open does not
// connect; a Redis that cannot be reached is reported by the first call.
// Errors name DEDUPE_URL and never contain its password.
func Open(rawURL string) (Store, error) {
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
			return nil, fmt.Errorf("DEDUPE_URL %s: a memory store takes no address or options; use memory://", secret.RedactURL(rawURL))
		}
		return NewMemory(), nil
	case "redis", "rediss":
		return openRedis(rawURL)
	}
	return nil, fmt.Errorf("DEDUPE_URL %s: unsupported scheme %q; use memory:// or redis://host:port/db", secret.RedactURL(rawURL), u.Scheme)
}

func checkLease(lease Lease) error {
	if err := lease.Key.Validate(); err != nil {
		return err
	}
	if lease.token == "" {
		return errors.New("dedupe: lease not obtained from Claim")
	}
	return nil
}

func checkClaim(key Key, ttl time.Duration) error {
	if err := key.Validate(); err != nil {
		return err
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("dedupe: lease ttl %s is shorter than 1ms", ttl)
	}
	return nil
}
