package dedupe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/internal/redistest"
)

// guard fails the test if call does not return within a generous bound:
// a store must give up by the caller's deadline, never hang.
func guard(t *testing.T, call func() error) error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- call() }()
	select {
	case err := <-result:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("call did not return: it ignores its context")
		return nil
	}
}

func TestRedisDown(t *testing.T) {
	server := redistest.Run(t)
	s := openURL(t, server.URL)
	key := newKey("slack")
	claim(t, s, key, time.Minute, Claimed)
	server.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := guard(t, func() error { _, err := s.Claim(ctx, key, time.Minute); return err })
	if err == nil {
		t.Fatal("Claim with Redis down reported no error")
	}
	if !strings.Contains(err.Error(), "dedupe: claim "+key.ID()+" in redis") {
		t.Fatalf("error does not say what failed: %v", err)
	}
	err = guard(t, func() error { _, _, err := s.Lookup(ctx, key); return err })
	if err == nil {
		t.Fatal("Lookup with Redis down reported no error")
	}
}

func TestRedisHung(t *testing.T) {
	server := redistest.Run(t)
	s := openURL(t, server.URL)
	key := newKey("slack")
	c := claim(t, s, key, time.Minute, Claimed) // the pool now holds an open connection
	if err := server.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := guard(t, func() error { return s.Done(ctx, c.Lease, "ref") }); err == nil {
		t.Fatal("Done against a hung Redis reported no error")
	}
	if err := server.Resume(); err != nil {
		t.Fatal(err)
	}
	// Once Redis answers again the store recovers. The timed-out Done may
	// still have reached Redis and run, or not: repeating it settles both.
	again, err := s.Claim(testContext(t), key, time.Minute)
	if err != nil {
		t.Fatalf("Claim after Resume: %v", err)
	}
	if again.State != Busy && again.State != Delivered {
		t.Fatalf("Claim after Resume = %s, want busy (Done lost) or delivered (Done ran late)", again.State)
	}
	done(t, s, c.Lease, "ref")
	claim(t, s, key, time.Minute, Delivered)
}

// TestRedisKeys checks the keys the store leaves: namespaced, and each with
// an expiry (the lease's TTL, or Retention for a delivery).
func TestRedisKeys(t *testing.T) {
	server := redistest.Run(t)
	s := openURL(t, server.URL)
	ctx := testContext(t)
	delivered, leased := newKey("slack"), newKey("dingtalk")
	done(t, s, claim(t, s, delivered, time.Minute, Claimed).Lease, "C1/1.2")
	claim(t, s, leased, 30*time.Second, Claimed)

	opts, err := redis.ParseURL(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(opts)
	defer raw.Close()
	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]time.Duration{ // key → TTL bounds
		deliveredKey(delivered.ID()): {Retention - time.Minute, Retention},
		leaseKey(leased.ID()):        {time.Second, 30 * time.Second},
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %q, want those of %v", keys, want)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "precheckwatch:") {
			t.Errorf("key %q is outside the precheckwatch: namespace", k)
		}
		bounds, ok := want[k]
		if !ok {
			t.Errorf("unexpected key %q", k)
			continue
		}
		ttl, err := raw.TTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < bounds[0] || ttl > bounds[1] {
			t.Errorf("key %q TTL %s, want within %v", k, ttl, bounds)
		}
	}
}

// TestRedisClaimRetry: if the reply to a claim is lost and go-redis runs the
// script again with the same token, the caller still gets its lease.
func TestRedisClaimRetry(t *testing.T) {
	s := openURL(t, sharedRedis.URL).(*Redis)
	ctx := testContext(t)
	id := newKey("slack").ID()
	for attempt := 1; attempt <= 2; attempt++ {
		reply, err := claimScript.Run(ctx, s.client, []string{deliveredKey(id), leaseKey(id)}, "token-1", 60000).StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		if len(reply) != 1 || reply[0] != "claimed" {
			t.Fatalf("attempt %d: reply %q, want claimed", attempt, reply)
		}
	}
	reply, err := claimScript.Run(ctx, s.client, []string{deliveredKey(id), leaseKey(id)}, "token-2", 60000).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(reply) != 1 || reply[0] != "busy" {
		t.Fatalf("another token: reply %q, want busy", reply)
	}
}

func TestOpen(t *testing.T) {
	const password = "s3cretPW"
	cases := []struct {
		url     string
		ok      bool
		mention string // what the error must name besides DEDUPE_URL
	}{
		{"memory://", true, ""},
		{"redis://127.0.0.1:6379/0", true, ""},
		{"redis://:" + password + "@127.0.0.1:6379/2?dial_timeout=1s", true, ""},
		{"rediss://user:" + password + "@cache.example.com:6380/0", true, ""},
		{"", false, "empty"},
		{"memory://somewhere", false, "memory://"},
		{"memory://?size=1", false, "memory://"},
		{"http://user:" + password + "@127.0.0.1:6379/0", false, `"http"`},
		{"127.0.0.1:6379", false, "redis://host:port/db"},
		{"redis://user:" + password + "@127.0.0.1:6379/db0", false, "database"},
		{"redis://user:" + password + "@127.0.0.1:6379/0?tls=yes", false, "tls"},
		{"redis://user:" + password + "@127.0.0.1:6379/0?read_timeout=soon", false, "read_timeout"},
		{"redis://user:" + password + "@[::1/0", false, "host"},
		{"redis://user:" + password + "%zz@127.0.0.1:6379/0", false, "escape"},
	}
	for _, tc := range cases {
		s, err := Open(tc.url)
		if tc.ok {
			if err != nil {
				t.Errorf("Open(%q): %v", tc.url, err)
				continue
			}
			s.Close()
			continue
		}
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", tc.url)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "DEDUPE_URL") || !strings.Contains(msg, tc.mention) {
			t.Errorf("Open(%q) = %q; want it to name DEDUPE_URL and %q", tc.url, msg, tc.mention)
		}
		if strings.Contains(msg, password) {
			t.Errorf("Open(%q) error leaks the password: %q", tc.url, msg)
		}
	}
}
