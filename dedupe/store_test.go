package dedupe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"precheckwatch/internal/redistest"
)

// sharedRedis serves every Redis test that does not stop its server.
var sharedRedis *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dedupe tests need Redis:", err)
		os.Exit(1)
	}
	sharedRedis = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// backends opens each Store implementation, fresh for the test.
var backends = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"memory", func(t *testing.T) Store { return NewMemory() }},
	{"redis", func(t *testing.T) Store { return openURL(t, sharedRedis.URL) }},
}

func openURL(t *testing.T, url string) Store {
	t.Helper()
	s, err := Open(url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs test against every backend.
func eachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t)) })
	}
}

var taskSeq atomic.Int64

// newKey returns a key no other test uses, since the Redis server is shared.
func newKey(channel string) Key {
	return Key{TaskID: fmt.Sprintf("t-test%06d", taskSeq.Add(1)), Channel: channel, Verdict: "FAILED"}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func claim(t *testing.T, s Store, key Key, ttl time.Duration, want State) Claim {
	t.Helper()
	c, err := s.Claim(testContext(t), key, ttl)
	if err != nil {
		t.Fatalf("Claim(%s): %v", key, err)
	}
	if c.State != want {
		t.Fatalf("Claim(%s) = %s, want %s", key, c.State, want)
	}
	return c
}

func done(t *testing.T, s Store, l Lease, ref string) {
	t.Helper()
	if err := s.Done(testContext(t), l, ref); err != nil {
		t.Fatalf("Done(%s): %v", l.Key, err)
	}
}

func release(t *testing.T, s Store, l Lease) {
	t.Helper()
	if err := s.Release(testContext(t), l); err != nil {
		t.Fatalf("Release(%s): %v", l.Key, err)
	}
}

func lookup(t *testing.T, s Store, key Key, wantRef string, wantDelivered bool) {
	t.Helper()
	ref, delivered, err := s.Lookup(testContext(t), key)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", key, err)
	}
	if ref != wantRef || delivered != wantDelivered {
		t.Fatalf("Lookup(%s) = %q, %v; want %q, %v", key, ref, delivered, wantRef, wantDelivered)
	}
}

func TestDoneIsRemembered(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("slack")
		c := claim(t, s, key, time.Minute, Claimed)
		lookup(t, s, key, "", false)
		done(t, s, c.Lease, "C123/1700000000.000100")
		lookup(t, s, key, "C123/1700000000.000100", true)
		got := claim(t, s, key, time.Minute, Delivered)
		if got.Ref != "C123/1700000000.000100" {
			t.Fatalf("delivered ref = %q", got.Ref)
		}
		// The same task on another channel, or under another verdict, is
		// another notification.
		claim(t, s, Key{key.TaskID, "dingtalk", key.Verdict}, time.Minute, Claimed)
		claim(t, s, Key{key.TaskID, key.Channel, "STARTED"}, time.Minute, Claimed)
	})
}

func TestEmptyRefIsDelivered(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("dingtalk") // DingTalk answers with no reference
		done(t, s, claim(t, s, key, time.Minute, Claimed).Lease, "")
		lookup(t, s, key, "", true)
		claim(t, s, key, time.Minute, Delivered)
	})
}

func TestBusyWhileLeased(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("slack")
		first := claim(t, s, key, time.Minute, Claimed)
		claim(t, s, key, time.Minute, Busy)
		release(t, s, first.Lease)
		second := claim(t, s, key, time.Minute, Claimed)
		if second.Lease == first.Lease {
			t.Fatal("two claims share a lease token")
		}
		release(t, s, second.Lease)
		release(t, s, second.Lease) // releasing twice is harmless
		claim(t, s, key, time.Minute, Claimed)
	})
}

func TestExpiredLease(t *testing.T) {
	const ttl = 50 * time.Millisecond
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("slack")
		stale := claim(t, s, key, ttl, Claimed)
		time.Sleep(2 * ttl)
		current := claim(t, s, key, time.Minute, Claimed)

		// The stale holder's Release must not free the current holder's lease.
		release(t, s, stale.Lease)
		claim(t, s, key, time.Minute, Busy)

		// The stale holder did send: its Done records the delivery...
		done(t, s, stale.Lease, "stale-ref")
		claim(t, s, key, time.Minute, Delivered)
		// ...and the reference recorded first is kept.
		done(t, s, current.Lease, "current-ref")
		lookup(t, s, key, "stale-ref", true)
	})
}

// TestConcurrentSendersSendOnce runs the whole protocol (claim, send, then
// done or release) in many goroutines on one key, with the first sends
// failing: exactly one send succeeds, and everyone ends up seeing it.
func TestConcurrentSendersSendOnce(t *testing.T) {
	const senders, failures = 32, 3
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("slack")
		var attempts, sent atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for range senders {
			wg.Go(func() {
				ctx := testContext(t)
				for ctx.Err() == nil {
					c, err := s.Claim(ctx, key, time.Minute)
					if err != nil {
						errs <- err
						return
					}
					switch c.State {
					case Delivered:
						if c.Ref != "sent" {
							errs <- fmt.Errorf("delivered ref %q", c.Ref)
						}
						return
					case Busy:
						time.Sleep(time.Millisecond)
						continue
					}
					if attempts.Add(1) <= failures {
						err = s.Release(ctx, c.Lease)
					} else {
						sent.Add(1)
						err = s.Done(ctx, c.Lease, "sent")
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- ctx.Err()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := sent.Load(); got != 1 {
			t.Fatalf("sent %d times, want once", got)
		}
		if got := attempts.Load(); got != failures+1 {
			t.Fatalf("%d attempts, want %d (%d failed, then one sent)", got, failures+1, failures)
		}
	})
}

func TestConcurrentClaimsOneWinner(t *testing.T) {
	const claimants = 64
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("dingtalk")
		states := make(chan State, claimants)
		var wg sync.WaitGroup
		for range claimants {
			wg.Go(func() {
				c, err := s.Claim(testContext(t), key, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				states <- c.State
			})
		}
		wg.Wait()
		close(states)
		count := map[State]int{}
		for st := range states {
			count[st]++
		}
		if count[Claimed] != 1 || count[Busy] != claimants-1 {
			t.Fatalf("states %v, want 1 claimed and %d busy", count, claimants-1)
		}
	})
}

func TestBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx := testContext(t)
		key := newKey("slack")
		cases := []struct {
			name string
			call func() error
		}{
			{"claim without task id", func() error {
				_, err := s.Claim(ctx, Key{Channel: "slack", Verdict: "FAILED"}, time.Minute)
				return err
			}},
			{"claim without channel and verdict", func() error {
				_, err := s.Claim(ctx, Key{TaskID: "t-1"}, time.Minute)
				return err
			}},
			{"claim with zero ttl", func() error { _, err := s.Claim(ctx, key, 0); return err }},
			{"claim with negative ttl", func() error { _, err := s.Claim(ctx, key, -time.Second); return err }},
			{"done with a made-up lease", func() error { return s.Done(ctx, Lease{Key: key}, "ref") }},
			{"release with a made-up lease", func() error { return s.Release(ctx, Lease{Key: key}) }},
			{"lookup without task id", func() error { _, _, err := s.Lookup(ctx, Key{}); return err }},
		}
		for _, tc := range cases {
			if err := tc.call(); err == nil {
				t.Errorf("%s: no error", tc.name)
			}
		}
		// None of the rejected calls may have touched the key.
		claim(t, s, key, time.Minute, Claimed)
	})
}

func TestCanceledContext(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Claim(ctx, newKey("slack"), time.Minute); !errors.Is(err, context.Canceled) {
			t.Fatalf("Claim with a canceled context: %v, want context.Canceled", err)
		}
	})
}

func TestClosed(t *testing.T) {
	eachStore(t, func(t *testing.T, s Store) {
		key := newKey("slack")
		c := claim(t, s, key, time.Minute, Claimed)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ctx := testContext(t)
		if _, err := s.Claim(ctx, key, time.Minute); !errors.Is(err, ErrClosed) {
			t.Errorf("Claim after Close: %v", err)
		}
		if err := s.Done(ctx, c.Lease, "ref"); !errors.Is(err, ErrClosed) {
			t.Errorf("Done after Close: %v", err)
		}
		if _, _, err := s.Lookup(ctx, key); !errors.Is(err, ErrClosed) {
			t.Errorf("Lookup after Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}
