package handler

import (
	"context"
	"sync"
	"time"
)

// A received message is the invocation's only while its visibility lasts:
// after that the queue shows it to others, and its receipt handle no longer
// deletes it. The keeper holds every message the invocation received until
// it is handed on, whatever the queue's visibility timeout (MNS's default
// is 30 s), by changing its visibility before it ends and keeping the new
// handle the change returns.

// keepTick is how often the keeper looks for messages to extend.
const keepTick = time.Second

// keepAhead is how long before a message's visibility ends it is extended:
// enough for a change to go through on a slow network.
const keepAhead = 10 * time.Second

// assumedVisibility is taken for a message whose queue did not say when it
// shows again: MNS's default visibility timeout.
const assumedVisibility = 30 * time.Second

// keepers bounds the visibility changes in flight at once.
const keepers = 8

// keeper extends the visibility of the invocation's received messages.
type keeper struct {
	r *run

	mu   sync.Mutex
	held map[*job]*holding
	// peak is the most messages held at once.
	peak int
	// coming counts the messages receives are asking for (see room),
	// waiting the receivers waiting for room, and unchecked the messages
	// held that are yet to be checked and handed to the channels.
	coming, waiting, unchecked int
	// freed is closed, and replaced, when a message is released: it wakes
	// the receivers waiting for room.
	freed chan struct{}
	// wake asks for a look before the next tick, when a message arrives.
	wake chan struct{}
}

// holding is one received message the invocation holds.
type holding struct {
	// mu is held during a visibility change, so that the handle read on
	// release is never one the change is about to replace.
	mu        sync.Mutex
	handle    string
	visibleAt time.Time
}

func newKeeper(r *run) *keeper {
	return &keeper{r: r, held: map[*job]*holding{}, freed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// hold starts keeping j's message.
func (k *keeper) hold(j *job) {
	at := j.msg.VisibleAt
	if at.IsZero() {
		at = k.r.h.d.Now().Add(assumedVisibility)
	}
	k.mu.Lock()
	k.held[j] = &holding{handle: j.msg.Handle, visibleAt: at}
	k.peak = max(k.peak, len(k.held))
	k.unchecked++
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// release stops keeping j's message and returns its current handle, for the
// delete or change that hands it on.
func (k *keeper) release(j *job) string {
	k.mu.Lock()
	h := k.held[j]
	delete(k.held, j)
	if h != nil {
		close(k.freed)
		k.freed = make(chan struct{})
	}
	k.mu.Unlock()
	if h == nil {
		return j.msg.Handle
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handle
}

// room makes room for a receive of n messages among at most limit held or
// coming, waiting while there is none, and reports false when the sweep's
// time to check ends first.
func (k *keeper) room(ctx context.Context, n, limit int) bool {
	ctx, cancel := context.WithDeadline(ctx, k.r.times.checkUntil)
	defer cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	for {
		if len(k.held)+k.coming+n <= limit {
			k.coming += n
			return true
		}
		freed := k.freed
		k.waiting++
		k.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
		}
		k.mu.Lock()
		k.waiting--
		if ctx.Err() != nil {
			return false
		}
	}
}

// arrived notes that the receive room was made for (n messages) has come
// back, its messages held.
func (k *keeper) arrived(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.coming -= n
}

// checked notes that a held message was checked and its verdict, if any,
// handed to the channels.
func (k *keeper) checked() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unchecked--
}

// stalled reports that receivers wait for room while every message held
// has been checked: what the channels hold is all the sweep waits for, and
// it grows into no full digest page until some of it is handed on.
func (k *keeper) stalled() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.waiting > 0 && k.unchecked == 0
}

// peakHeld is the most messages the keeper held at once.
func (k *keeper) peakHeld() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.peak
}

// run extends, every keepTick until ctx ends, the messages whose
// visibility ends within keepAhead, to the invocation's deadline and the
// lease margin: a message is never shown to another instance while this
// one may still work on it, and an instance that dies frees it as soon as
// its leases.
func (k *keeper) run(ctx context.Context) {
	tick := time.NewTicker(keepTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
			k.extendDue(ctx)
		case <-tick.C:
			k.extendDue(ctx)
			k.r.hand.flushDeletes(ctx)
		}
	}
}

func (k *keeper) extendDue(ctx context.Context) {
	now := k.r.h.d.Now()
	k.mu.Lock()
	var due []*holding
	for _, h := range k.held {
		if h.mu.TryLock() {
			if h.visibleAt.Sub(now) < keepAhead {
				due = append(due, h)
				continue // stays locked until extended
			}
			h.mu.Unlock()
		}
	}
	k.mu.Unlock()
	work := make(chan *holding)
	var wg sync.WaitGroup
	for range min(keepers, len(due)) {
		wg.Go(func() {
			for h := range work {
				k.extend(ctx, h)
				h.mu.Unlock()
			}
		})
	}
	for _, h := range due {
		work <- h
	}
	close(work)
	wg.Wait()
}

// extend hides h's message until the deadline and the lease margin; h.mu
// is held.
func (k *keeper) extend(ctx context.Context, h *holding) {
	r := k.r
	d := r.times.deadline.Sub(r.h.d.Now()) + leaseMargin
	cctx, cancel := context.WithTimeout(ctx, keepAhead/2)
	defer cancel()
	handle, err := r.pending.ChangeVisibility(cctx, h.handle, d)
	if err != nil {
		r.serviceError("mns", "change visibility", err)
		// Try again next tick while the old handle may still hold it.
		return
	}
	h.handle, h.visibleAt = handle, r.h.d.Now().Add(d)
	r.tally.add(func(rep *Report) { rep.Kept++ })
}
