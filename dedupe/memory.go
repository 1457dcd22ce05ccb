package dedupe

import (
	"context"
	"crypto/rand"
	"sync"
	"time"
)

// Memory is a Store private to one process: a map under a mutex, with the
// same lease and retention rules as Redis. It is what "memory://" opens.
type Memory struct {
	mu      sync.Mutex
	records map[string]*record // by Key.ID
	swept   int                // len(records) after the last sweep
	closed  bool
	now     func() time.Time // a test's clock can stand in
}

// record is one key's delivery and lease; a zero time means absent.
type record struct {
	ref            string
	deliveredUntil time.Time
	token          string
	leaseUntil     time.Time
}

// NewMemory returns an empty memory store. Keep one for the life of the
// process: a new store remembers nothing.
func NewMemory() *Memory {
	return &Memory{records: map[string]*record{}, now: time.Now}
}

// Claim implements Store.
func (m *Memory) Claim(ctx context.Context, key Key, ttl time.Duration) (Claim, error) {
	if err := checkClaim(key, ttl); err != nil {
		return Claim{}, err
	}
	if err := ctx.Err(); err != nil {
		return Claim{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Claim{}, ErrClosed
	}
	now := m.now()
	m.sweep(now)
	id := key.ID()
	r := m.records[id]
	if r == nil {
		r = &record{}
		m.records[id] = r
	}
	if now.Before(r.deliveredUntil) {
		return Claim{State: Delivered, Ref: r.ref}, nil
	}
	if now.Before(r.leaseUntil) {
		return Claim{State: Busy}, nil
	}
	r.token = rand.Text()
	r.leaseUntil = now.Add(ttl)
	return Claim{State: Claimed, Lease: Lease{Key: key, token: r.token}}, nil
}

// Done implements Store.
func (m *Memory) Done(ctx context.Context, lease Lease, ref string) error {
	if err := checkLease(lease); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	id := lease.Key.ID()
	r := m.records[id]
	if r == nil {
		r = &record{}
		m.records[id] = r
	}
	if !now.Before(r.deliveredUntil) {
		r.ref = ref
		r.deliveredUntil = now.Add(Retention)
	}
	m.dropLease(r, lease.token)
	return nil
}

// Release implements Store.
func (m *Memory) Release(ctx context.Context, lease Lease) error {
	if err := checkLease(lease); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if r := m.records[lease.Key.ID()]; r != nil {
		m.dropLease(r, lease.token)
	}
	return nil
}

// dropLease ends r's lease if token still holds it.
func (m *Memory) dropLease(r *record, token string) {
	if r.token == token {
		r.token, r.leaseUntil = "", time.Time{}
	}
}

// Lookup implements Store.
func (m *Memory) Lookup(ctx context.Context, key Key) (string, bool, error) {
	if err := key.Validate(); err != nil {
		return "", false, err
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", false, ErrClosed
	}
	if r := m.records[key.ID()]; r != nil && m.now().Before(r.deliveredUntil) {
		return r.ref, true, nil
	}
	return "", false, nil
}

// Close implements Store; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.records = nil
	return nil
}

// sweep drops expired records once the map has doubled since the last
// sweep, so a long-lived instance does not grow without bound and the cost
// stays constant per call on average.
func (m *Memory) sweep(now time.Time) {
	if len(m.records) < 2*m.swept+64 {
		return
	}
	for id, r := range m.records {
		if !now.Before(r.deliveredUntil) && !now.Before(r.leaseUntil) {
			delete(m.records, id)
		}
	}
	m.swept = len(m.records)
}
