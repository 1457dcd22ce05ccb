// Package clock is the clock a test hands an emulator (as its Config.Now)
// to move time by hand: signature windows, rate windows and precheck
// durations pass without waiting for them.
package clock

import (
	"sync"
	"time"
)

// Manual stands still until Advance moves it. It is safe for concurrent
// use.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// At returns a clock reading t.
func At(t time.Time) *Manual { return &Manual{now: t} }

// Now reads the clock.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
