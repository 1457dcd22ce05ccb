package ledger

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// keyPrefix namespaces every Redis key of precheckwatch.
const keyPrefix = "precheckwatch:"

// A channel's records share the Redis Cluster hash tag {channel}, so that
// one script may bind, mark or claim a whole page of them at once:
//
//	precheckwatch:{slack}:note:ID   hash: sent (the reference), msg and at (the latest attempt)
//	precheckwatch:{slack}:lease:ID  the holder's token, for the lease TTL
//	precheckwatch:{slack}:body:MSG  a message's body, for an exact repeat
//	precheckwatch:task:{TASK}       hash: firstSeen (Unix ms), outcome (JSON), requeued;
//	                                once retired only done
func noteKey(k Key) string  { return keyPrefix + "{" + k.Channel + "}:note:" + k.ID() }
func leaseKey(k Key) string { return keyPrefix + "{" + k.Channel + "}:lease:" + k.ID() }
func bodyKey(channel, message string) string {
	return keyPrefix + "{" + channel + "}:body:" + message
}
func taskKey(id string) string { return keyPrefix + "task:{" + id + "}" }

// pairs lists each key's note and lease, the KEYS of the page scripts.
func pairs(keys []Key) []string {
	out := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, noteKey(k), leaseKey(k))
	}
	return out
}

func leaseKeys(leases []Lease) []Key {
	keys := make([]Key, len(leases))
	for i, l := range leases {
		keys[i] = l.Key
	}
	return keys
}

// script makes a Lua script on its first use: go-redis hashes a script's
// source when it is made, work a cold start need not do for scripts that a
// function with a memory:// record, or an invocation, may never run.
func script(src string) func() *redis.Script {
	return sync.OnceValue(func() *redis.Script { return redis.NewScript(src) })
}

// claimScript answers, per note and lease pair: {'sent', ref}, or takes
// the lease and answers {'claimed', msg, at}, or {'busy'}. Finding its own
// token makes a retried call (after a lost reply) answer claimed again.
// ARGV: token, lease TTL in milliseconds.
var claimScript = script(`
local out = {}
for i = 1, #KEYS, 2 do
  local sent = redis.call('HGET', KEYS[i], 'sent')
  if sent then
    out[#out+1] = {'sent', sent}
  elseif redis.call('SET', KEYS[i+1], ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', KEYS[i+1]) == ARGV[1] then
    local a = redis.call('HMGET', KEYS[i], 'msg', 'at')
    out[#out+1] = {'claimed', a[1] or '', a[2] or ''}
  else
    out[#out+1] = {'busy'}
  end
end
return out
`)

// bindScript binds every note to one message, all or none: it checks every
// lease first and writes nothing unless the caller holds them all.
// KEYS: the body, then note and lease pairs. ARGV: token, message, at
// (Unix ms), retention in seconds, body.
var bindScript = script(`
for i = 2, #KEYS, 2 do
  if redis.call('GET', KEYS[i+1]) ~= ARGV[1] then return 0 end
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[1], ARGV[5], 'EX', ARGV[4]) end
for i = 2, #KEYS, 2 do
  redis.call('HSET', KEYS[i], 'msg', ARGV[2], 'at', ARGV[3])
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
return 1
`)

// sentScript records every note as sent (keeping an earlier reference) and
// drops the leases the caller's token still holds.
// ARGV: token, reference, retention in seconds.
var sentScript = script(`
for i = 1, #KEYS, 2 do
  redis.call('HSETNX', KEYS[i], 'sent', ARGV[2])
  redis.call('EXPIRE', KEYS[i], ARGV[3])
  if redis.call('GET', KEYS[i+1]) == ARGV[1] then redis.call('DEL', KEYS[i+1]) end
end
return 1
`)

// voidScript forgets every note's attempt that is bound to the message,
// and drops the leases the caller's token still holds.
// ARGV: token, message.
var voidScript = script(`
for i = 1, #KEYS, 2 do
  if redis.call('HGET', KEYS[i], 'msg') == ARGV[2] then redis.call('HDEL', KEYS[i], 'msg', 'at') end
  if redis.call('GET', KEYS[i+1]) == ARGV[1] then redis.call('DEL', KEYS[i+1]) end
end
return 1
`)

// releaseScript drops the leases the caller's token still holds.
// ARGV: token.
var releaseScript = script(`
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i+1]) == ARGV[1] then redis.call('DEL', KEYS[i+1]) end
end
return 1
`)

// recallScript records the first sight unless there is one, and answers
// {firstSeen, outcome, new, requeued, 0}, or {0, nil, 0, 0, 1} for a retired
// task. KEYS: task. ARGV: now (Unix ms), retention in seconds.
var recallScript = script(`
if redis.call('HEXISTS', KEYS[1], 'done') == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {'0', false, 0, '0', 1}
end
local new = redis.call('HSETNX', KEYS[1], 'firstSeen', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'firstSeen', 'outcome', 'requeued')
return {r[1], r[2], new, r[3] or '0', 0}
`)

// requeuedScript raises the task's requeued check count to ARGV[1], never
// lowers it. KEYS: task. ARGV: check count, now (Unix ms), retention in
// seconds.
var requeuedScript = script(`
if redis.call('HEXISTS', KEYS[1], 'done') == 1 then return 1 end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'requeued') or '0') then
  redis.call('HSET', KEYS[1], 'requeued', ARGV[1])
end
redis.call('HSETNX', KEYS[1], 'firstSeen', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`)

// sealScript keeps the first outcome and answers the sealed one, or nil
// for a retired task. KEYS: task. ARGV: outcome, first seen (Unix ms),
// retention in seconds.
var sealScript = script(`
if redis.call('HEXISTS', KEYS[1], 'done') == 1 then return false end
redis.call('HSETNX', KEYS[1], 'outcome', ARGV[1])
redis.call('HSETNX', KEYS[1], 'firstSeen', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], 'outcome')
`)

// retireScript replaces the task's record with its done mark.
// KEYS: task. ARGV: retention in seconds.
var retireScript = script(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`)

// Redis is the Ledger shared by every instance.
type Redis struct {
	client *redis.Client
}

// retention is Retention in whole seconds, as the scripts take it.
var retention = strconv.FormatInt(int64(Retention/time.Second), 10)

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

// Recall implements Ledger, in one pipelined round trip.
func (r *Redis) Recall(ctx context.Context, taskIDs []string, now time.Time) ([]TaskRecord, error) {
	if err := checkTasks(taskIDs); err != nil {
		return nil, err
	}
	if len(taskIDs) == 0 {
		return nil, nil
	}
	seen := strconv.FormatInt(now.UnixMilli(), 10)
	cmds := make([]*redis.Cmd, len(taskIDs))
	// Eval, not EvalSha: a pipeline cannot fall back after NOSCRIPT, which a
	// restarted Redis answers.
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range taskIDs {
			cmds[i] = recallScript().Eval(ctx, p, []string{taskKey(id)}, seen, retention)
		}
		return nil
	})
	if err != nil {
		return nil, redisError("recall", fmt.Sprintf("%d tasks", len(taskIDs)), err)
	}
	out := make([]TaskRecord, len(taskIDs))
	for i, c := range cmds {
		reply, err := c.Slice()
		if err != nil || len(reply) != 5 {
			return nil, fmt.Errorf("ledger: recall %s: unexpected reply %v (%v)", taskIDs[i], reply, err)
		}
		if reply[4] == int64(1) {
			out[i].Done = true
			continue
		}
		ms, err := strconv.ParseInt(fmt.Sprint(reply[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ledger: recall %s: unreadable first sight %v", taskIDs[i], reply[0])
		}
		out[i].FirstSeen = time.UnixMilli(ms)
		out[i].New = reply[2] == int64(1)
		if out[i].Requeued, err = strconv.Atoi(fmt.Sprint(reply[3])); err != nil {
			return nil, fmt.Errorf("ledger: recall %s: unreadable requeued count %v", taskIDs[i], reply[3])
		}
		if s, ok := reply[1].(string); ok {
			o, err := decodeOutcome(s)
			if err != nil {
				return nil, fmt.Errorf("ledger: recall %s: %w", taskIDs[i], err)
			}
			out[i].Outcome = &o
		}
	}
	return out, nil
}

func decodeOutcome(s string) (precheck.Outcome, error) {
	var o precheck.Outcome
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return o, fmt.Errorf("unreadable sealed outcome: %w", err)
	}
	return o, nil
}

// NoteRequeued implements Ledger, in one pipelined round trip.
func (r *Redis) NoteRequeued(ctx context.Context, requeued []Requeued) error {
	for _, q := range requeued {
		if err := checkTasks([]string{q.TaskID}); err != nil {
			return err
		}
	}
	if len(requeued) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, q := range requeued {
			requeuedScript().Eval(ctx, p, []string{taskKey(q.TaskID)}, q.Attempt, now, retention)
		}
		return nil
	})
	return redisError("note requeues of", fmt.Sprintf("%d tasks", len(requeued)), err)
}

// Seal implements Ledger.
func (r *Redis) Seal(ctx context.Context, outcomes map[string]precheck.Outcome) (map[string]precheck.Outcome, error) {
	ids := slices.Sorted(maps.Keys(outcomes))
	if err := checkTasks(ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return map[string]precheck.Outcome{}, nil
	}
	bodies := make([][]byte, len(ids))
	for i, id := range ids {
		b, err := json.Marshal(outcomes[id])
		if err != nil {
			return nil, fmt.Errorf("ledger: seal %s: %w", id, err)
		}
		bodies[i] = b
	}
	cmds := make([]*redis.Cmd, len(ids))
	// Eval, not EvalSha, as in Recall.
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = sealScript().Eval(ctx, p, []string{taskKey(id)}, bodies[i], outcomes[id].FirstSeen, retention)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisError("seal", fmt.Sprintf("%d tasks", len(ids)), err)
	}
	sealed := make(map[string]precheck.Outcome, len(ids))
	for i, c := range cmds {
		s, err := c.Text()
		if errors.Is(err, redis.Nil) {
			continue // retired
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: seal %s: unexpected reply (%v)", ids[i], err)
		}
		o, err := decodeOutcome(s)
		if err != nil {
			return nil, fmt.Errorf("ledger: seal %s: %w", ids[i], err)
		}
		sealed[ids[i]] = o
	}
	return sealed, nil
}

// Retire implements Ledger, in one pipelined round trip.
func (r *Redis) Retire(ctx context.Context, taskIDs []string) error {
	if err := checkTasks(taskIDs); err != nil {
		return err
	}
	if len(taskIDs) == 0 {
		return nil
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range taskIDs {
			retireScript().Eval(ctx, p, []string{taskKey(id)}, retention)
		}
		return nil
	})
	return redisError("retire", fmt.Sprintf("%d tasks", len(taskIDs)), err)
}

// Claim implements Ledger, in one round trip.
func (r *Redis) Claim(ctx context.Context, keys []Key, ttl time.Duration) ([]Claim, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	token := rand.Text()
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	reply, err := claimScript().Run(ctx, r.client, pairs(keys), token, ms).Slice()
	if err != nil {
		return nil, redisError("claim", page(keys), err)
	}
	if len(reply) != len(keys) {
		return nil, fmt.Errorf("ledger: claim %s: %d answers for %d keys", page(keys), len(reply), len(keys))
	}
	out := make([]Claim, len(keys))
	for i, raw := range reply {
		c, err := parseClaim(raw, keys[i], token)
		if err != nil {
			return nil, fmt.Errorf("ledger: claim %s: %w", keys[i].ID(), err)
		}
		out[i] = c
	}
	return out, nil
}

func parseClaim(raw any, k Key, token string) (Claim, error) {
	fields, _ := raw.([]any)
	strs := make([]string, len(fields))
	for i, f := range fields {
		strs[i], _ = f.(string)
	}
	switch {
	case len(strs) == 2 && strs[0] == "sent":
		return Claim{State: Sent, Ref: strs[1]}, nil
	case len(strs) == 1 && strs[0] == "busy":
		return Claim{State: Busy}, nil
	case len(strs) == 3 && strs[0] == "claimed":
		c := Claim{State: Claimed, Lease: Lease{Key: k, token: token}}
		if strs[1] != "" {
			ms, err := strconv.ParseInt(strs[2], 10, 64)
			if err != nil {
				return Claim{}, fmt.Errorf("unreadable attempt time %q", strs[2])
			}
			c.Prior = &Attempt{Message: strs[1], At: time.UnixMilli(ms)}
		}
		return c, nil
	}
	return Claim{}, fmt.Errorf("unexpected reply %q", strs)
}

// NoteAttempt implements Ledger, in one atomic script.
func (r *Redis) NoteAttempt(ctx context.Context, leases []Lease, a Attempt, data []byte) error {
	if err := checkLeases(leases); err != nil {
		return err
	}
	if err := checkAttempt(a); err != nil {
		return err
	}
	if len(leases) == 0 {
		return nil
	}
	keys := leaseKeys(leases)
	redisKeys := append([]string{bodyKey(keys[0].Channel, a.Message)}, pairs(keys)...)
	ok, err := bindScript().Run(ctx, r.client, redisKeys, leases[0].token, a.Message, a.At.UnixMilli(), retention, data).Int()
	if err != nil {
		return redisError("note attempt of", page(keys), err)
	}
	if ok != 1 {
		return ErrLeaseLost
	}
	return nil
}

// MarkSent implements Ledger, in one round trip.
func (r *Redis) MarkSent(ctx context.Context, leases []Lease, ref string) error {
	return r.page(ctx, "mark sent", sentScript(), leases, ref, retention)
}

// VoidAttempt implements Ledger, in one round trip.
func (r *Redis) VoidAttempt(ctx context.Context, leases []Lease, message string) error {
	return r.page(ctx, "void attempt of", voidScript(), leases, message)
}

// Release implements Ledger, in one round trip.
func (r *Redis) Release(ctx context.Context, leases []Lease) error {
	return r.page(ctx, "release", releaseScript(), leases)
}

// page runs a page script over leases, once per token: leases one Claim
// made share one, and leases of several claims (an event's pages) run in
// one pipelined round trip.
func (r *Redis) page(ctx context.Context, op string, s *redis.Script, leases []Lease, args ...any) error {
	if err := checkLeases(leases); err != nil {
		return err
	}
	byToken := map[string][]Key{}
	var order []string
	for _, l := range leases {
		if byToken[l.token] == nil {
			order = append(order, l.token)
		}
		byToken[l.token] = append(byToken[l.token], l.Key)
	}
	if len(order) == 1 {
		keys := byToken[order[0]]
		return redisError(op, page(keys), s.Run(ctx, r.client, pairs(keys), append([]any{order[0]}, args...)...).Err())
	}
	// Eval, not EvalSha, as in Recall.
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, token := range order {
			s.Eval(ctx, p, pairs(byToken[token]), append([]any{token}, args...)...)
		}
		return nil
	})
	return redisError(op, page(leaseKeys(leases)), err)
}

// SentRefs implements Ledger, in one pipelined round trip.
func (r *Redis) SentRefs(ctx context.Context, keys []Key) (map[Key]string, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGet(ctx, noteKey(k), "sent")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisError("look up", page(keys), err)
	}
	out := map[Key]string{}
	for i, c := range cmds {
		if ref, err := c.Result(); err == nil {
			out[keys[i]] = ref
		}
	}
	return out, nil
}

// Body implements Ledger.
func (r *Redis) Body(ctx context.Context, channel, message string) ([]byte, bool, error) {
	b, err := r.client.Get(ctx, bodyKey(channel, message)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, redisError("read body of", message, err)
	}
	return b, true, nil
}

// Close implements Ledger; later calls fail with ErrClosed.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("ledger: close redis: %w", err)
	}
	return nil
}

// page names a page of keys for errors.
func page(keys []Key) string {
	if len(keys) == 1 {
		return keys[0].ID()
	}
	return fmt.Sprintf("%d %s records", len(keys), keys[0].Channel)
}

// redisError gives err the operation and what it was about; nil stays nil.
func redisError(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	}
	return fmt.Errorf("ledger: %s %s in redis: %w", op, what, err)
}
