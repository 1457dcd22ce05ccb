package pace_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/internal/redistest"
	"precheckwatch/notify/pace"
)

// admitted counts how many of n concurrent sends the pacers let go before
// within ends, spreading the sends over the pacers in turn.
func admitted(t *testing.T, pacers []pace.Pacer, n int, within time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	count := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pacers[i%len(pacers)].Wait(ctx)
			switch {
			case err == nil:
				mu.Lock()
				count++
				mu.Unlock()
			case !errors.Is(err, pace.ErrTooLate) && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("wait: %v", err)
			}
		}()
	}
	wg.Wait()
	return count
}

func sharedPair(t *testing.T, name string, limits ...pace.Limit) []pace.Pacer {
	t.Helper()
	srv := redistest.Run(t)
	var pacers []pace.Pacer
	for range 2 {
		opts, err := redis.ParseURL(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		client := redis.NewClient(opts) // one client each, as two instances have
		t.Cleanup(func() { client.Close() })
		p, err := pace.NewShared(client, name, limits...)
		if err != nil {
			t.Fatal(err)
		}
		pacers = append(pacers, p)
	}
	return pacers
}

func localPair(t *testing.T, limits ...pace.Limit) []pace.Pacer {
	t.Helper()
	var pacers []pace.Pacer
	for range 2 {
		p, err := pace.NewLocal(limits...)
		if err != nil {
			t.Fatal(err)
		}
		pacers = append(pacers, p)
	}
	return pacers
}

// A window admits exactly its N at once, however many ask: a burst goes
// out together rather than drip by drip, and the rest are told at once that
// their deadline comes first. Two instances sharing Redis share the window;
// two without do not.
func TestWindowAdmitsItsCount(t *testing.T) {
	hour := pace.Limit{N: 18, Per: time.Hour}
	cases := []struct {
		name   string
		pacers []pace.Pacer
		want   int
	}{
		{"one local", localPair(t, hour)[:1], 18},
		{"two local, each its own", localPair(t, hour), 36},
		{"two instances on one Redis", sharedPair(t, "dingtalk-robot", hour), 18},
		{"tightest of two limits", sharedPair(t, "feishu-bot", pace.Limit{N: 100, Per: time.Hour}, pace.Limit{N: 5, Per: time.Hour}), 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := admitted(t, tc.pacers, 50, 2*time.Second); got != tc.want {
				t.Errorf("%d sends admitted, want %d", got, tc.want)
			}
		})
	}
}

// Once the window has moved on, a waiting send goes: the pacer waits for
// room instead of refusing.
func TestWaitsForRoom(t *testing.T) {
	window := pace.Limit{N: 2, Per: 300 * time.Millisecond}
	for name, pacers := range map[string][]pace.Pacer{"local": localPair(t, window)[:1], "shared": sharedPair(t, "slack-C1", window)} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			if got := admitted(t, pacers, 6, 5*time.Second); got != 6 {
				t.Fatalf("%d of 6 admitted", got)
			}
			// Six sends at two per window need two windows after the first.
			if took := time.Since(start); took < 2*window.Per-50*time.Millisecond {
				t.Errorf("six sends took %s, under two windows of %s", took, window.Per)
			}
		})
	}
}

// A hold one instance records (a Retry-After, a throttle) keeps back every
// instance's sends.
func TestHoldIsShared(t *testing.T) {
	pacers := sharedPair(t, "dingtalk-held", pace.Limit{N: 20, Per: time.Minute})
	pacers[0].Hold(context.Background(), time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := pacers[1].Wait(ctx); !errors.Is(err, pace.ErrTooLate) {
		t.Fatalf("wait during another instance's hold: %v", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("a send that cannot go before its deadline waited %s to learn it", took)
	}
	local := localPair(t, pace.Limit{N: 20, Per: time.Minute})[0]
	local.Hold(context.Background(), time.Hour)
	if err := local.Wait(ctx); !errors.Is(err, pace.ErrTooLate) {
		t.Fatalf("local wait during a hold: %v", err)
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	srv := redistest.Run(t)
	opts, _ := redis.ParseURL(srv.URL)
	client := redis.NewClient(opts)
	defer client.Close()
	p, err := pace.NewShared(client, "down", pace.Limit{N: 1, Per: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("a send was let go with the shared pace unreachable")
	}
}

func TestLimitsThatAdmitNothingAreRefused(t *testing.T) {
	for _, limits := range [][]pace.Limit{nil, {{N: 0, Per: time.Second}}, {{N: 1, Per: 0}}} {
		if _, err := pace.NewLocal(limits...); err == nil {
			t.Errorf("NewLocal accepts %v", limits)
		}
		if _, err := pace.NewShared(nil, "x", limits...); err == nil {
			t.Errorf("NewShared accepts %v", limits)
		}
	}
}
