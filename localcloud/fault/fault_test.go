package fault

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestPickFollowsRatesAndSeed(t *testing.T) {
	draw := func(seed int64) []Kind {
		i := New(seed)
		i.Set(Throttle, 0.2)
		i.Set(Server, 0.1)
		return picks(i, 2000)
	}
	a, b := draw(42), draw(42)
	counts := map[Kind]int{}
	for n := range a {
		if a[n] != b[n] {
			t.Fatal("the same seed drew differently")
		}
		counts[a[n]]++
	}
	if counts[Throttle] < 300 || counts[Throttle] > 500 || counts[Server] < 100 || counts[Server] > 260 || counts[Hang] != 0 {
		t.Fatalf("counts %v do not follow rates 0.2 and ~0.08", counts)
	}
	var zero Injector
	if zero.Pick() != "" {
		t.Fatal("the zero injector injected a fault")
	}
}

func TestCountsResetAndDelay(t *testing.T) {
	i := New(1)
	i.Set(Hang, 1)
	i.Pick()
	i.Pick()
	if i.Counts()[Hang] != 2 {
		t.Fatalf("counts = %v", i.Counts())
	}
	i.Reset()
	if i.Pick() != "" {
		t.Fatal("Reset left a fault on")
	}
	i.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { i.Delay(ctx); HangUntil(ctx, time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Delay or HangUntil ignored a cancelled context")
	}
}

func TestSharesAreExactAtRandomPlaces(t *testing.T) {
	shares := map[Kind]float64{Throttle: 0.08, Server: 0.09, Hang: 0.03}
	draw := func(seed int64) []Kind {
		i := New(seed)
		i.Set(Throttle, 1) // replaced by the shares
		i.SetShares(shares)
		return picks(i, 1000)
	}
	a, b := draw(7), draw(7)
	counts := map[Kind]int{}
	gaps := map[int]bool{}
	last := -1
	for n := range a {
		if a[n] != b[n] {
			t.Fatal("the same seed drew differently")
		}
		if a[n] != "" {
			counts[a[n]]++
		}
		if a[n] == Throttle {
			if last >= 0 {
				gaps[n-last] = true
			}
			last = n
		}
		// After n+1 picks every kind is within two of its share.
		for k, s := range shares {
			want := int(math.Ceil(s * float64(n+1)))
			if counts[k] > want || counts[k] < want-2 {
				t.Fatalf("after %d picks %s was injected %d times, want %d (or up to two fewer)", n+1, k, counts[k], want)
			}
		}
	}
	if len(gaps) < 3 {
		t.Errorf("throttling came at regular intervals %v, want random places", gaps)
	}
	i := New(1)
	i.SetShares(shares)
	i.Reset()
	if i.Pick() != "" {
		t.Fatal("Reset left the shares on")
	}
}

// picks draws n times from i.
func picks(i *Injector, n int) []Kind {
	out := make([]Kind, n)
	for k := range out {
		out[k] = i.Pick()
	}
	return out
}
