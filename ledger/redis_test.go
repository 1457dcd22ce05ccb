package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/internal/redistest"
	"precheckwatch/precheck"
)

// guard fails the test if call does not return within a generous bound:
// a ledger must give up by the caller's deadline, never hang.
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
	l := openURL(t, server.URL)
	keys := newKeys("slack", 2)
	states(t, l, keys, time.Minute, Claimed, Claimed)
	server.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := guard(t, func() error { _, err := l.Claim(ctx, keys, time.Minute); return err })
	if err == nil || !strings.Contains(err.Error(), "ledger: claim 2 slack records in redis") {
		t.Fatalf("Claim with Redis down = %v, want an error saying what failed", err)
	}
	if err := guard(t, func() error { _, err := l.Recall(ctx, []string{"t-1"}, at); return err }); err == nil {
		t.Fatal("Recall with Redis down reported no error")
	}
}

func TestRedisHung(t *testing.T) {
	server := redistest.Run(t)
	l := openURL(t, server.URL)
	keys := newKeys("slack", 1)
	c := states(t, l, keys, time.Minute, Claimed) // the pool now holds an open connection
	if err := server.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := guard(t, func() error { return l.MarkSent(ctx, leasesOf(c), "ref") }); err == nil {
		t.Fatal("MarkSent against a hung Redis reported no error")
	}
	if err := server.Resume(); err != nil {
		t.Fatal(err)
	}
	// The timed-out MarkSent may still have run, or not: repeating it
	// settles both.
	must(t, l.MarkSent(testContext(t), leasesOf(c), "ref"))
	states(t, l, keys, time.Minute, Sent)
}

// TestRedisRestartedEmptyForgets: after a restart without persistence a
// task is new again and a sent notification claimable, which is what the
// handler's settling of a lost record starts from.
func TestRedisRestartedEmptyForgets(t *testing.T) {
	server := redistest.Run(t)
	l := openURL(t, server.URL)
	keys := newKeys("slack", 1)
	must(t, l.MarkSent(testContext(t), leasesOf(states(t, l, keys, time.Minute, Claimed)), ""))
	_, err := l.Recall(testContext(t), []string{keys[0].TaskID}, at)
	must(t, err)
	must(t, server.Restart())
	var recs []TaskRecord
	// The first calls after the restart may meet the pool's dead connections.
	for range 3 {
		if recs, err = l.Recall(testContext(t), []string{keys[0].TaskID}, at.Add(time.Hour)); err == nil {
			break
		}
	}
	must(t, err)
	if !recs[0].New || !recs[0].FirstSeen.Equal(at.Add(time.Hour)) {
		t.Fatalf("Recall after an empty restart = %+v, want a new record", recs[0])
	}
	states(t, l, keys, time.Minute, Claimed)
}

// TestRedisKeys checks the keys the ledger leaves: namespaced, and each
// with an expiry (the lease's TTL, or Retention).
func TestRedisKeys(t *testing.T) {
	server := redistest.Run(t)
	l := openURL(t, server.URL)
	ctx := testContext(t)
	sent, leased := newKeys("slack", 1), newKeys("dingtalk", 1)
	must(t, l.MarkSent(ctx, leasesOf(states(t, l, sent, time.Minute, Claimed)), "C1/1.2"))
	c := states(t, l, leased, 30*time.Second, Claimed)
	must(t, l.NoteAttempt(ctx, leasesOf(c), Attempt{Message: "m-1", At: at}, []byte("body")))
	_, err := l.Recall(ctx, []string{"t-keys"}, at)
	must(t, err)
	_, err = l.Seal(ctx, map[string]precheck.Outcome{"t-keys": {Verdict: precheck.Passed}})
	must(t, err)
	_, err = l.Seal(ctx, map[string]precheck.Outcome{"t-retired": {Verdict: precheck.Passed}})
	must(t, err)
	must(t, l.Retire(ctx, []string{"t-retired"}))

	opts, err := redis.ParseURL(server.URL)
	must(t, err)
	raw := redis.NewClient(opts)
	defer raw.Close()
	keys, err := raw.Keys(ctx, "*").Result()
	must(t, err)
	long := [2]time.Duration{Retention - time.Minute, Retention}
	want := map[string][2]time.Duration{ // key → TTL bounds
		noteKey(sent[0]):           long,
		noteKey(leased[0]):         long,
		leaseKey(leased[0]):        {time.Second, 30 * time.Second},
		bodyKey("dingtalk", "m-1"): long,
		taskKey("t-keys"):          long,
		taskKey("t-retired"):       long,
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %q, want those of %v", keys, want)
	}
	if fields, err := raw.HGetAll(ctx, taskKey("t-retired")).Result(); err != nil || len(fields) != 1 || fields["done"] != "1" {
		t.Errorf("a retired task's record holds %v (%v), want only its done mark", fields, err)
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
		must(t, err)
		if ttl < bounds[0] || ttl > bounds[1] {
			t.Errorf("key %q TTL %s, want within %v", k, ttl, bounds)
		}
	}
}

// TestRedisClaimRetry: if the reply to a claim is lost and go-redis runs the
// script again with the same token, the caller still gets its lease.
func TestRedisClaimRetry(t *testing.T) {
	l := openURL(t, sharedRedis.URL).(*Redis)
	ctx := testContext(t)
	keys := pairs(newKeys("slack", 1))
	for attempt := 1; attempt <= 2; attempt++ {
		reply, err := claimScript().Run(ctx, l.client, keys, "token-1", 60000).Slice()
		must(t, err)
		if c, err := parseClaim(reply[0], Key{}, "token-1"); err != nil || c.State != Claimed {
			t.Fatalf("attempt %d: reply %v, want claimed", attempt, reply)
		}
	}
	reply, err := claimScript().Run(ctx, l.client, keys, "token-2", 60000).Slice()
	must(t, err)
	if c, err := parseClaim(reply[0], Key{}, "token-2"); err != nil || c.State != Busy {
		t.Fatalf("another token: reply %v, want busy", reply)
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
		l, err := Open(tc.url)
		if tc.ok {
			if err != nil {
				t.Errorf("Open(%q): %v", tc.url, err)
				continue
			}
			l.Close()
			continue
		}
		if err == nil {
			l.Close()
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
