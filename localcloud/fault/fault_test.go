package fault

import (
	"context"
	"testing"
	"time"
)

func TestPickFollowsRatesAndSeed(t *testing.T) {
	draw := func(seed int64) []Kind {
		i := New(seed)
		i.Set(Throttle, 0.2)
		i.Set(Server, 0.1)
		out := make([]Kind, 2000)
		for n := range out {
			out[n] = i.Pick()
		}
		return out
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
