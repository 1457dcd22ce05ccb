package pace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// callTimeout bounds one call to Redis, so that a frozen Redis costs a send
// its turn, not the invocation its time.
const callTimeout = 2 * time.Second

// takeScript counts a send when the hold has passed and every window has
// room, and answers 0; else it counts nothing and answers how many
// milliseconds until the next send may go. Time is Redis's own, one clock
// for every instance. KEYS: the hold, then one sorted set of send times per
// limit. ARGV: a unique member, then N and the window in milliseconds per
// limit.
var takeScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held > now then wait = held - now end
for i = 2, #KEYS do
  local n, per = tonumber(ARGV[2*i-2]), tonumber(ARGV[2*i-1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - per)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= n then
    local oldest = redis.call('ZRANGE', KEYS[i], count - n, count - n, 'WITHSCORES')
    local free = tonumber(oldest[2]) + per - now
    if free > wait then wait = free end
  end
end
if wait > 0 then return wait end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2*i-1]))
end
return 0
`)
})

// holdScript moves the hold to d from now, unless it is already later.
// KEYS: the hold. ARGV: d in milliseconds.
var holdScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_, 'PX', ARGV[1])
end
return until_
`)
})

// Shared is a Pacer kept in Redis: every instance that paces the same
// name through the same Redis shares its windows and holds.
type Shared struct {
	client redis.UniversalClient
	keys   []string
	args   []any
}

// NewShared returns the Pacer of name under limits, kept in client's Redis.
// name identifies the destination (no secret: it is a key in Redis).
func NewShared(client redis.UniversalClient, name string, limits ...Limit) (*Shared, error) {
	if err := checkLimits(limits); err != nil {
		return nil, err
	}
	// One hash tag: every key of the pacer lands in one Redis Cluster slot,
	// as a script touching them all requires.
	prefix := "precheckwatch:pace:{" + name + "}:"
	s := &Shared{client: client, keys: []string{prefix + "hold"}}
	for _, l := range limits {
		s.keys = append(s.keys, prefix+strconv.Itoa(l.N)+"/"+strconv.FormatInt(l.Per.Milliseconds(), 10))
		s.args = append(s.args, l.N, l.Per.Milliseconds())
	}
	return s, nil
}

// Wait implements Pacer.
func (s *Shared) Wait(ctx context.Context) error {
	member := make([]byte, 8)
	if _, err := rand.Read(member); err != nil {
		return err
	}
	args := append([]any{hex.EncodeToString(member)}, s.args...)
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		wait, err := takeScript().Run(cctx, s.client, s.keys, args...).Int64()
		cancel()
		if err != nil {
			return fmt.Errorf("shared pace: %w", err)
		}
		if wait <= 0 {
			return nil
		}
		now := time.Now()
		if err := sleepUntil(ctx, now, now.Add(time.Duration(wait)*time.Millisecond)); err != nil {
			return err
		}
	}
}

// Hold implements Pacer. A hold Redis fails to record costs only a refused
// send later.
func (s *Shared) Hold(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	_ = holdScript().Run(cctx, s.client, s.keys[:1], d.Milliseconds()).Err()
}
