package pace

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"precheckwatch/secret"
)

// Pacers makes the pacers of one deployment: shared through Redis when the
// delivery record is (a redis:// URL), so that every instance keeps to the
// channels' limits together, else kept in the process.
type Pacers struct {
	client *redis.Client
}

// Open returns the pacers for the delivery record at rawURL (DEDUPE_URL):
// memory:// keeps them in the process, redis:// and rediss:// in Redis.
func Open(rawURL string) (*Pacers, error) {
	if !strings.HasPrefix(rawURL, "redis://") && !strings.HasPrefix(rawURL, "rediss://") {
		return &Pacers{}, nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("DEDUPE_URL %s: %w", secret.RedactURL(rawURL), err)
	}
	// The caller's context, not go-redis's own timeouts, bounds each call.
	opts.ContextTimeoutEnabled = true
	opts.DialerRetries = 1
	return &Pacers{client: redis.NewClient(opts)}, nil
}

// Pacer returns the pacer of one destination under limits. destination
// names it (a webhook URL, a channel) and may be a secret: only its hash is
// kept.
func (p *Pacers) Pacer(channel, destination string, limits ...Limit) (Pacer, error) {
	if p.client == nil {
		return NewLocal(limits...)
	}
	sum := sha256.Sum256([]byte(destination))
	return NewShared(p.client, channel+":"+hex.EncodeToString(sum[:8]), limits...)
}

// Close releases the connection to Redis, if any.
func (p *Pacers) Close() error {
	if p.client == nil {
		return nil
	}
	return p.client.Close()
}
