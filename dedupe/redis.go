package dedupe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/secret"
)

// keyPrefix namespaces every Redis key of precheckwatch.
const keyPrefix = "precheckwatch:"

// Each Key has two Redis keys, "precheckwatch:{ID}:delivered" (the
// reference, kept for Retention) and "precheckwatch:{ID}:lease" (the
// holder's token, kept for the lease TTL). The braces are a Redis Cluster
// hash tag: both land in one slot, as a script touching both requires.
func deliveredKey(id string) string { return keyPrefix + "{" + id + "}:delivered" }
func leaseKey(id string) string     { return keyPrefix + "{" + id + "}:lease" }

// claimScript answers "delivered" with the reference, or takes the lease and
// answers "claimed", or answers "busy". Finding its own token makes a retried
// call (after a lost reply) answer "claimed" again.
// KEYS: delivered, lease. ARGV: token, lease TTL in milliseconds.
var claimScript = redis.NewScript(`
local ref = redis.call('GET', KEYS[1])
if ref then return {'delivered', ref} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'claimed'} end
if redis.call('GET', KEYS[2]) == ARGV[1] then return {'claimed'} end
return {'busy'}
`)

// doneScript records the delivery (keeping an earlier reference) and drops
// the lease only if the caller's token still holds it.
// KEYS: delivered, lease. ARGV: token, reference, retention in seconds.
var doneScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`)

// releaseScript is compare-and-delete: it drops the lease only if the
// caller's token still holds it. KEYS: lease. ARGV: token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Redis is the Store shared by every instance.
type Redis struct {
	client *redis.Client
}

func openRedis(rawURL string) (*Redis, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis names the bad part (scheme, db, option), never the password.
		return nil, fmt.Errorf("DEDUPE_URL %s: %w", secret.RedactURL(rawURL), err)
	}
	// Without this go-redis bounds a call by its own read timeout and
	// retries, not by the caller's context: the FC deadline must win.
	opts.ContextTimeoutEnabled = true
	// Each command attempt (max_retries) dials again anyway; go-redis's own
	// five dial attempts per command attempt would make every call to a
	// Redis that is down take about two seconds to fail.
	opts.DialerRetries = 1
	return &Redis{client: redis.NewClient(opts)}, nil
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, key Key, ttl time.Duration) (Claim, error) {
	if err := checkClaim(key, ttl); err != nil {
		return Claim{}, err
	}
	id := key.ID()
	token := rand.Text()
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	reply, err := claimScript.Run(ctx, r.client, []string{deliveredKey(id), leaseKey(id)}, token, int64(ms)).StringSlice()
	if err != nil {
		return Claim{}, redisError("claim", id, err)
	}
	switch {
	case len(reply) == 2 && reply[0] == "delivered":
		return Claim{State: Delivered, Ref: reply[1]}, nil
	case len(reply) == 1 && reply[0] == "claimed":
		return Claim{State: Claimed, Lease: Lease{Key: key, token: token}}, nil
	case len(reply) == 1 && reply[0] == "busy":
		return Claim{State: Busy}, nil
	}
	return Claim{}, fmt.Errorf("dedupe: claim %s: unexpected reply %q", id, reply)
}

// Done implements Store.
func (r *Redis) Done(ctx context.Context, lease Lease, ref string) error {
	if err := checkLease(lease); err != nil {
		return err
	}
	id := lease.Key.ID()
	retention := strconv.FormatInt(int64(Retention/time.Second), 10)
	err := doneScript.Run(ctx, r.client, []string{deliveredKey(id), leaseKey(id)}, lease.token, ref, retention).Err()
	return redisError("record delivery of", id, err)
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, lease Lease) error {
	if err := checkLease(lease); err != nil {
		return err
	}
	id := lease.Key.ID()
	err := releaseScript.Run(ctx, r.client, []string{leaseKey(id)}, lease.token).Err()
	return redisError("release", id, err)
}

// Lookup implements Store.
func (r *Redis) Lookup(ctx context.Context, key Key) (string, bool, error) {
	if err := key.Validate(); err != nil {
		return "", false, err
	}
	id := key.ID()
	ref, err := r.client.Get(ctx, deliveredKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, redisError("look up", id, err)
	}
	return ref, true, nil
}

// Close implements Store; later calls fail with ErrClosed.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("dedupe: close redis: %w", err)
	}
	return nil
}

// redisError gives err the operation and key it belongs to; nil stays nil.
func redisError(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	}
	return fmt.Errorf("dedupe: %s %s in redis: %w", op, id, err)
}
