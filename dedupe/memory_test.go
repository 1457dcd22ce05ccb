package dedupe

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// clock is a hand-set time for the memory store.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClockedMemory() (*Memory, *clock) {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := NewMemory()
	m.now = c.now
	return m, c
}

func TestMemoryRetention(t *testing.T) {
	m, c := newClockedMemory()
	key := newKey("slack")
	done(t, m, claim(t, m, key, time.Minute, Claimed).Lease, "ref")
	c.advance(Retention - time.Second)
	claim(t, m, key, time.Minute, Delivered)
	c.advance(time.Second)
	lookup(t, m, key, "", false)
	claim(t, m, key, time.Minute, Claimed)
}

// TestMemorySweep: expired leases and deliveries are dropped as the map
// grows, so a long-lived instance does not keep every key it ever saw,
// while live ones stay.
func TestMemorySweep(t *testing.T) {
	m, c := newClockedMemory()
	ctx := context.Background()
	delivered := newKey("slack")
	done(t, m, claim(t, m, delivered, time.Minute, Claimed).Lease, "kept")
	leased := newKey("slack")
	claim(t, m, leased, time.Hour, Claimed)
	for i := range 1000 {
		if _, err := m.Claim(ctx, Key{fmt.Sprintf("t-%d", i), "slack", "FAILED"}, time.Second); err != nil {
			t.Fatal(err)
		}
		c.advance(10 * time.Millisecond) // each lease expires 100 claims later
	}
	if n := len(m.records); n > 400 {
		t.Fatalf("%d records after 1000 short leases, want expired ones swept", n)
	}
	claim(t, m, delivered, time.Minute, Delivered)
	claim(t, m, leased, time.Minute, Busy)
}

func BenchmarkMemoryClaimDone(b *testing.B) {
	m := NewMemory()
	ctx := context.Background()
	keys := make([]Key, 4096)
	for i := range keys {
		keys[i] = Key{fmt.Sprintf("t-%06d", i), "slack", "FAILED"}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		key := keys[i%len(keys)]
		key.Verdict = fmt.Sprint(i) // a fresh notification each time
		c, err := m.Claim(ctx, key, time.Minute)
		if err != nil || c.State != Claimed {
			b.Fatalf("claim %s: %v %v", key, c.State, err)
		}
		if err := m.Done(ctx, c.Lease, "ref"); err != nil {
			b.Fatal(err)
		}
	}
}
