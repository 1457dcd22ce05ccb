package pace

import (
	"context"
	"sync"
	"time"
)

// Local is a Pacer kept in the process: for a channel only this process
// sends through.
type Local struct {
	mu     sync.Mutex
	limits []Limit
	// sent holds, per limit, the times of the last N sends, oldest first.
	sent [][]time.Time
	held time.Time
}

// NewLocal returns a Pacer of limits kept in the process.
func NewLocal(limits ...Limit) (*Local, error) {
	if err := checkLimits(limits); err != nil {
		return nil, err
	}
	return &Local{limits: limits, sent: make([][]time.Time, len(limits))}, nil
}

// Wait implements Pacer.
func (p *Local) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		at := p.take(now)
		if !at.After(now) {
			return nil
		}
		if err := sleepUntil(ctx, now, at); err != nil {
			return err
		}
	}
}

// take counts a send at now and returns now when every limit allows one;
// else it counts nothing and returns when the next may go.
func (p *Local) take(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := now
	if p.held.After(next) {
		next = p.held
	}
	for i, l := range p.limits {
		if sent := p.sent[i]; len(sent) >= l.N {
			if free := sent[len(sent)-l.N].Add(l.Per); free.After(next) {
				next = free
			}
		}
	}
	if next.After(now) {
		return next
	}
	for i, l := range p.limits {
		p.sent[i] = append(p.sent[i], now)
		if len(p.sent[i]) > l.N {
			p.sent[i] = p.sent[i][len(p.sent[i])-l.N:]
		}
	}
	return now
}

// Hold implements Pacer.
func (p *Local) Hold(_ context.Context, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := time.Now().Add(d); until.After(p.held) {
		p.held = until
	}
}
