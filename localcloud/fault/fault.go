// Package fault injects the failures the local cloud's emulators can produce:
// added latency, throttling, server errors and hangs, each at a seeded rate
// that can be changed while the emulators run.
package fault

import (
	"context"
	"io"
	"maps"
	"math"
	"math/rand"
	"net/http"
	"sync"
	"time"
)

// Kind names one family of injected failure. Each emulator decides what a
// kind looks like on its own wire (Throttling.User for Security Center,
// HTTP 429 with Retry-After for Slack, errcode 130101 for DingTalk, ...).
type Kind string

// The kinds every emulator understands.
const (
	Throttle Kind = "throttle" // the service's own throttling answer
	Server   Kind = "5xx"      // an internal error or unavailable answer
	Hang     Kind = "hang"     // no answer until the client gives up
)

// Kinds lists every kind, for reports and flag parsing.
var Kinds = []Kind{Throttle, Server, Hang}

// Injector decides, request by request, whether to inject a fault. The zero
// value injects nothing; it is safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	rates   map[Kind]float64
	latency time.Duration
	rng     *rand.Rand
	counts  map[Kind]int
	// shares, when set, replaces rates: kind k is injected in shares[k] of
	// the picks since SetShares, dealt counting those injected.
	shares map[Kind]float64
	picks  int
	dealt  map[Kind]int
}

// New returns an injector whose choices follow seed, so a failing run can be
// replayed.
func New(seed int64) *Injector {
	return &Injector{rng: rand.New(rand.NewSource(seed))}
}

// Set sets the probability (0..1) that a request suffers kind.
func (i *Injector) Set(kind Kind, rate float64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.rates == nil {
		i.rates = map[Kind]float64{}
	}
	i.rates[kind] = rate
}

// SetLatency adds d before every answer.
func (i *Injector) SetLatency(d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.latency = d
}

// Latency is the latency currently added to every answer.
func (i *Injector) Latency() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.latency
}

// SetShares makes kind k fail exactly shares[k] of the requests from now
// on, at random places: after n requests it has been injected
// ceil(shares[k]×n) times, or one or two fewer while it is due. Rates draw
// each request independently, so a service with few requests may see none
// of its share; shares give every service its proportion. It replaces the
// rates until Reset.
func (i *Injector) SetShares(shares map[Kind]float64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.shares = maps.Clone(shares)
	i.picks = 0
	i.dealt = map[Kind]int{}
}

// Reset turns every fault off and zeroes the latency.
func (i *Injector) Reset() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rates = nil
	i.shares = nil
	i.latency = 0
}

// Pick draws once and returns the kind to inject, or "" for none. Kinds are
// tried in the order of Kinds, each with its own rate.
func (i *Injector) Pick() Kind {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.rng == nil {
		i.rng = rand.New(rand.NewSource(1))
	}
	if i.shares != nil {
		return i.pickShare()
	}
	for _, k := range Kinds {
		r := i.rates[k]
		if r > 0 && i.rng.Float64() < r {
			i.count(k)
			return k
		}
	}
	return ""
}

// pickShare is Pick under SetShares: a kind one request behind its share
// is injected now or, at random, at the next request; two behind, now.
func (i *Injector) pickShare() Kind {
	i.picks++
	for _, k := range Kinds {
		due := int(math.Ceil(i.shares[k]*float64(i.picks))) - i.dealt[k]
		if due >= 2 || (due == 1 && i.rng.Float64() < 0.5) {
			i.dealt[k]++
			i.count(k)
			return k
		}
	}
	return ""
}

// count records an injected kind; i.mu is held.
func (i *Injector) count(k Kind) {
	if i.counts == nil {
		i.counts = map[Kind]int{}
	}
	i.counts[k]++
}

// Counts reports how many faults of each kind were injected so far.
func (i *Injector) Counts() map[Kind]int {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[Kind]int, len(i.counts))
	for k, n := range i.counts {
		out[k] = n
	}
	return out
}

// Delay sleeps for the configured latency, or until ctx ends.
func (i *Injector) Delay(ctx context.Context) {
	d := i.Latency()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// HangUntil blocks until ctx ends or max passes, whichever is first. An
// emulator hangs this way so that a client's timeout, not the emulator,
// ends the exchange, while a stuck test still finishes.
func HangUntil(ctx context.Context, max time.Duration) {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// HangRequest hangs r before anything is done, until the client gives up
// or max passes. Reading the body to its end first lets net/http notice the
// client leaving, which ends r.Context().
func HangRequest(r *http.Request, max time.Duration) {
	_, _ = io.Copy(io.Discard, r.Body)
	HangUntil(r.Context(), max)
}

// LostAnswer is a ResponseWriter that swallows the answer of a request
// whose reply an injected hang loses after the work was done.
func LostAnswer() http.ResponseWriter { return &lostAnswer{header: http.Header{}} }

type lostAnswer struct{ header http.Header }

func (l *lostAnswer) Header() http.Header         { return l.header }
func (l *lostAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (l *lostAnswer) WriteHeader(int)             {}
