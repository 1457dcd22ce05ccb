// Package waitfor is how tests wait for something to happen: until a
// condition they can read holds (an emulator's counter, a store's record, a
// process gone), never for a length of time in the hope that it has.
package waitfor

import (
	"context"
	"time"
)

// every is how long Condition leaves between two looks at a condition.
const every = 5 * time.Millisecond

// Condition reports whether cond holds within d, looking at once and then
// every few milliseconds. The caller says what failed: it knows what it
// waited for.
func Condition(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// GiveUpWhen is the context of a client that gives up once cond holds (an
// emulator holds its request, or has done the work whose answer it
// swallows), looking as Condition does for at most d. A deadline instead
// races the server: on a loaded machine it can fall before the request
// arrives. cancel releases the context sooner.
func GiveUpWhen(d time.Duration, cond func() bool) (ctx context.Context, cancel context.CancelFunc) {
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		defer cancel()
		Condition(d, func() bool { return ctx.Err() != nil || cond() })
	}()
	return ctx, cancel
}
