// Package pace spaces one chat channel's sends to the channel's published
// limits: at most N sends in any window of a given length (a sliding
// window, not a drip), and none while the channel has asked to be left
// alone (a Retry-After, a throttle). The window is kept in the process, or
// in Redis when several instances send through the same channel, so that
// the limit holds for all of them together.
package pace

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit is at most N sends in any window of Per.
type Limit struct {
	N   int
	Per time.Duration
}

// String shows the limit as "18 per 1m0s".
func (l Limit) String() string { return fmt.Sprintf("%d per %s", l.N, l.Per) }

// Pacer spaces the sends of one channel destination (a robot, a bot, a
// Slack channel).
type Pacer interface {
	// Wait returns once a send may leave within every limit, and counts
	// it. It returns an error at once when ctx would end before then, and
	// when ctx ends while it waits.
	Wait(ctx context.Context) error
	// Hold keeps every send back for d from now, as the channel asked.
	Hold(ctx context.Context, d time.Duration)
}

// ErrTooLate reports that ctx ends before the pace lets a send go: the
// caller learns at once, rather than at its deadline.
var ErrTooLate = errors.New("the channel's pace lets no send go before the deadline")

// checkLimits refuses limits that could never admit a send.
func checkLimits(limits []Limit) error {
	if len(limits) == 0 {
		return errors.New("pace: no limit")
	}
	for _, l := range limits {
		if l.N < 1 || l.Per <= 0 {
			return fmt.Errorf("pace: limit %s admits nothing", l)
		}
	}
	return nil
}

// sleepUntil waits until at, or returns an error when ctx ends first or
// would end before at.
func sleepUntil(ctx context.Context, now, at time.Time) error {
	if deadline, ok := ctx.Deadline(); ok && at.After(deadline) {
		return fmt.Errorf("%w (next send at %s, deadline in %s)", ErrTooLate, at.Sub(now).Round(time.Millisecond), deadline.Sub(now).Round(time.Millisecond))
	}
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
