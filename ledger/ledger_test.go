package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"precheckwatch/internal/redistest"
	"precheckwatch/internal/waitfor"
	"precheckwatch/precheck"
)

// sharedRedis serves every Redis test that does not stop its server.
var sharedRedis *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledger tests need Redis:", err)
		os.Exit(1)
	}
	sharedRedis = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// backends opens each Ledger implementation, fresh for the test.
var backends = []struct {
	name string
	open func(t *testing.T) Ledger
}{
	{"memory", func(t *testing.T) Ledger { return NewMemory() }},
	{"redis", func(t *testing.T) Ledger { return openURL(t, sharedRedis.URL) }},
}

func openURL(t *testing.T, url string) Ledger {
	t.Helper()
	l, err := Open(url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// eachLedger runs test against every backend.
func eachLedger(t *testing.T, test func(t *testing.T, l Ledger)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open(t)) })
	}
}

var taskSeq atomic.Int64

// newKeys returns n keys on channel that no other test uses, since the Redis
// server is shared.
func newKeys(channel string, n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{TaskID: fmt.Sprintf("t-test%06d", taskSeq.Add(1)), Channel: channel, Verdict: "FAILED"}
	}
	return keys
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// states claims keys and checks each answer's state.
func states(t *testing.T, l Ledger, keys []Key, ttl time.Duration, want ...State) []Claim {
	t.Helper()
	cs, err := l.Claim(testContext(t), keys, ttl)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	for i, c := range cs {
		if c.State != want[i] {
			t.Fatalf("Claim(%s) = %s, want %s", keys[i], c.State, want[i])
		}
	}
	return cs
}

// reclaimed waits until the one key's lease has lapsed, claiming it anew
// for a minute.
func reclaimed(t *testing.T, l Ledger, keys []Key) {
	t.Helper()
	if len(keys) != 1 {
		t.Fatalf("reclaimed takes one key, not %d", len(keys))
	}
	var last State
	lapsed := waitfor.Condition(5*time.Second, func() bool {
		c, err := l.Claim(testContext(t), keys, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		last = c[0].State
		return last == Claimed
	})
	if !lapsed {
		t.Fatalf("the lease of %s never lapsed: %s", keys[0], last)
	}
}

func leasesOf(cs []Claim) []Lease {
	var out []Lease
	for _, c := range cs {
		if c.State == Claimed {
			out = append(out, c.Lease)
		}
	}
	return out
}

var at = time.UnixMilli(1_780_000_000_000)

// TestNotificationLifecycle walks each named operation's documented
// meaning, one line per case, against every backend.
func TestNotificationLifecycle(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, l Ledger)
	}{
		{"a new notification is claimed with no prior attempt", func(t *testing.T, l Ledger) {
			c := states(t, l, newKeys("slack", 1), time.Minute, Claimed)
			if c[0].Prior != nil {
				t.Fatalf("Prior = %+v, want none", c[0].Prior)
			}
		}},
		{"a live lease makes others busy", func(t *testing.T, l Ledger) {
			keys := newKeys("slack", 2)
			states(t, l, keys[:1], time.Minute, Claimed)
			states(t, l, keys, time.Minute, Busy, Claimed)
		}},
		{"an expired lease is claimed again", func(t *testing.T, l Ledger) {
			keys := newKeys("slack", 1)
			states(t, l, keys, 5*time.Millisecond, Claimed)
			reclaimed(t, l, keys)
		}},
		{"mark sent is remembered with its first reference", func(t *testing.T, l Ledger) {
			keys := newKeys("slack", 2)
			c := states(t, l, keys, time.Minute, Claimed, Claimed)
			must(t, l.MarkSent(testContext(t), leasesOf(c), "C1 1.0"))
			must(t, l.MarkSent(testContext(t), leasesOf(c), "C1 2.0"))
			got := states(t, l, keys, time.Minute, Sent, Sent)
			if got[0].Ref != "C1 1.0" {
				t.Fatalf("Ref = %q, want the first one", got[0].Ref)
			}
		}},
		{"mark sent records even after the lease passed to another holder", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 1)
			stale := states(t, l, keys, 5*time.Millisecond, Claimed)
			reclaimed(t, l, keys)
			must(t, l.MarkSent(testContext(t), leasesOf(stale), ""))
			states(t, l, keys, time.Minute, Sent)
		}},
		{"release frees the notification", func(t *testing.T, l Ledger) {
			keys := newKeys("slack", 1)
			c := states(t, l, keys, time.Minute, Claimed)
			must(t, l.Release(testContext(t), leasesOf(c)))
			states(t, l, keys, time.Minute, Claimed)
		}},
		{"a stale holder's release leaves the new holder's lease", func(t *testing.T, l Ledger) {
			keys := newKeys("slack", 1)
			stale := states(t, l, keys, 5*time.Millisecond, Claimed)
			reclaimed(t, l, keys)
			must(t, l.Release(testContext(t), leasesOf(stale)))
			states(t, l, keys, time.Minute, Busy)
		}},
		{"a noted attempt is the next holder's prior", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 3)
			c := states(t, l, keys, time.Minute, Claimed, Claimed, Claimed)
			a := Attempt{Message: "digest-1", At: at}
			must(t, l.NoteAttempt(testContext(t), leasesOf(c), a, []byte("the digest")))
			must(t, l.Release(testContext(t), leasesOf(c)))
			for _, got := range states(t, l, keys, time.Minute, Claimed, Claimed, Claimed) {
				if got.Prior == nil || got.Prior.Message != a.Message || !got.Prior.At.Equal(a.At) {
					t.Fatalf("Prior = %+v, want %+v", got.Prior, a)
				}
			}
			body, ok, err := l.Body(testContext(t), "dingtalk", "digest-1")
			if err != nil || !ok || string(body) != "the digest" {
				t.Fatalf("Body = %q, %v, %v", body, ok, err)
			}
		}},
		{"a digest is bound whole or not at all", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 3)
			c := states(t, l, keys, 5*time.Millisecond, Claimed, Claimed, Claimed)
			reclaimed(t, l, keys[2:]) // another holder takes one
			err := l.NoteAttempt(testContext(t), leasesOf(c), Attempt{Message: "digest-2", At: at}, nil)
			if !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("NoteAttempt with a lost lease = %v, want ErrLeaseLost", err)
			}
			for _, got := range states(t, l, keys[:2], time.Minute, Claimed, Claimed) {
				if got.Prior != nil {
					t.Fatalf("half-bound: %s has prior %+v", got.Lease.Key, got.Prior)
				}
			}
		}},
		{"a void attempt frees its verdicts with no prior", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 2)
			c := states(t, l, keys, time.Minute, Claimed, Claimed)
			must(t, l.NoteAttempt(testContext(t), leasesOf(c), Attempt{Message: "digest-3", At: at}, nil))
			must(t, l.VoidAttempt(testContext(t), leasesOf(c), "digest-3"))
			for _, got := range states(t, l, keys, time.Minute, Claimed, Claimed) {
				if got.Prior != nil {
					t.Fatalf("Prior = %+v after void", got.Prior)
				}
			}
		}},
		{"voiding an older message keeps a newer attempt", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 1)
			c := states(t, l, keys, time.Minute, Claimed)
			must(t, l.NoteAttempt(testContext(t), leasesOf(c), Attempt{Message: "new", At: at}, nil))
			must(t, l.VoidAttempt(testContext(t), leasesOf(c), "old"))
			got := states(t, l, keys, time.Minute, Claimed)
			if got[0].Prior == nil || got[0].Prior.Message != "new" {
				t.Fatalf("Prior = %+v, want the newer attempt", got[0].Prior)
			}
		}},
		{"no body is kept unless given", func(t *testing.T, l Ledger) {
			c := states(t, l, newKeys("dingtalk", 1), time.Minute, Claimed)
			must(t, l.NoteAttempt(testContext(t), leasesOf(c), Attempt{Message: "single-1", At: at}, nil))
			if _, ok, err := l.Body(testContext(t), "dingtalk", "single-1"); ok || err != nil {
				t.Fatalf("Body = %v, %v; want none", ok, err)
			}
		}},
		{"sent refs are found, unsent keys are not", func(t *testing.T, l Ledger) {
			keys := newKeys("slack", 2)
			c := states(t, l, keys[:1], time.Minute, Claimed)
			must(t, l.MarkSent(testContext(t), leasesOf(c), "C1 1.5"))
			refs, err := l.SentRefs(testContext(t), keys)
			must(t, err)
			if len(refs) != 1 || refs[keys[0]] != "C1 1.5" {
				t.Fatalf("SentRefs = %v, want only %s", refs, keys[0])
			}
		}},
		{"channels keep their own records", func(t *testing.T, l Ledger) {
			k := newKeys("slack", 1)[0]
			c := states(t, l, []Key{k}, time.Minute, Claimed)
			must(t, l.MarkSent(testContext(t), leasesOf(c), ""))
			k.Channel = "dingtalk"
			states(t, l, []Key{k}, time.Minute, Claimed)
		}},
		{"a digest's body is kept while a verdict bound to it is unsent", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 3)
			c := states(t, l, keys, time.Minute, Claimed, Claimed, Claimed)
			must(t, l.NoteAttempt(testContext(t), leasesOf(c), Attempt{Message: "digest-4", At: at}, []byte("the digest")))
			must(t, l.MarkSent(testContext(t), leasesOf(c[:2]), ""))
			must(t, l.Release(testContext(t), leasesOf(c[2:])))
			body, ok, err := l.Body(testContext(t), "dingtalk", "digest-4")
			if err != nil || !ok || string(body) != "the digest" {
				t.Fatalf("Body with one verdict unsent = %q, %v, %v", body, ok, err)
			}
		}},
		{"a retired task's sent notifications stay sent", func(t *testing.T, l Ledger) {
			verdict := newKeys("slack", 1)[0]
			started := verdict
			started.Verdict = "STARTED"
			digest := verdict
			digest.Channel = "dingtalk"
			for _, page := range [][]Key{{started, verdict}, {digest}} {
				c := states(t, l, page, time.Minute, slices.Repeat([]State{Claimed}, len(page))...)
				must(t, l.NoteAttempt(testContext(t), leasesOf(c), Attempt{Message: "digest-" + page[0].ID(), At: at}, []byte("the digest")))
				must(t, l.MarkSent(testContext(t), leasesOf(c), "ref"))
			}
			must(t, l.Retire(testContext(t), []string{verdict.TaskID}))
			states(t, l, []Key{started, verdict}, time.Minute, Sent, Sent)
			states(t, l, []Key{digest}, time.Minute, Sent)
			recs, err := l.Recall(testContext(t), []string{verdict.TaskID}, at)
			must(t, err)
			if !recs[0].Done {
				t.Fatalf("Recall after Retire = %+v, want done", recs[0])
			}
		}},
		{"a retired task's unsent notification is still claimed, with its attempt", func(t *testing.T, l Ledger) {
			keys := newKeys("dingtalk", 1)
			c := states(t, l, keys, time.Minute, Claimed)
			a := Attempt{Message: "digest-5", At: at}
			must(t, l.NoteAttempt(testContext(t), leasesOf(c), a, []byte("the digest")))
			must(t, l.Release(testContext(t), leasesOf(c)))
			must(t, l.Retire(testContext(t), []string{keys[0].TaskID}))
			got := states(t, l, keys, time.Minute, Claimed)
			if got[0].Prior == nil || got[0].Prior.Message != a.Message {
				t.Fatalf("Prior = %+v, want %+v", got[0].Prior, a)
			}
			body, ok, err := l.Body(testContext(t), "dingtalk", a.Message)
			if err != nil || !ok || string(body) != "the digest" {
				t.Fatalf("Body = %q, %v, %v", body, ok, err)
			}
		}},
		{"a hand-on is claimed once, then sent", func(t *testing.T, l Ledger) {
			msg := newKeys("x", 1)[0].TaskID
			c, err := ClaimHandOn(testContext(t), l, []string{msg}, time.Minute)
			if err != nil || c[0].State != Claimed {
				t.Fatalf("ClaimHandOn = %+v, %v", c, err)
			}
			must(t, MarkHandedOn(testContext(t), l, leasesOf(c)))
			c, err = ClaimHandOn(testContext(t), l, []string{msg}, time.Minute)
			if err != nil || c[0].State != Sent {
				t.Fatalf("ClaimHandOn after MarkHandedOn = %+v, %v", c, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { eachLedger(t, tc.run) })
	}
}

func TestTaskRecords(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, l Ledger, id string)
	}{
		{"the first sight is kept", func(t *testing.T, l Ledger, id string) {
			first, err := l.Recall(testContext(t), []string{id}, at)
			must(t, err)
			if !first[0].FirstSeen.Equal(at) || !first[0].New {
				t.Fatalf("first Recall = %+v, want a new record first seen %s", first[0], at)
			}
			recs, err := l.Recall(testContext(t), []string{id}, at.Add(time.Hour))
			must(t, err)
			if !recs[0].FirstSeen.Equal(at) || recs[0].Outcome != nil || recs[0].New {
				t.Fatalf("Recall = %+v, want an old record first seen %s and no outcome", recs[0], at)
			}
		}},
		{"the first seal wins", func(t *testing.T, l Ledger, id string) {
			first := precheck.Outcome{Verdict: precheck.TimedOut, Cause: precheck.CauseStillRunning, FirstSeen: at.UnixMilli(), DecidedAt: at.UnixMilli()}
			got, err := l.Seal(testContext(t), map[string]precheck.Outcome{id: first})
			must(t, err)
			got2, err := l.Seal(testContext(t), map[string]precheck.Outcome{id: {Verdict: precheck.Passed}})
			must(t, err)
			if got[id].Verdict != precheck.TimedOut || got2[id].Verdict != precheck.TimedOut || got2[id].Cause != precheck.CauseStillRunning {
				t.Fatalf("Seal = %+v then %+v, want the first both times", got, got2)
			}
			recs, err := l.Recall(testContext(t), []string{id}, at.Add(time.Hour))
			must(t, err)
			if recs[0].Outcome == nil || recs[0].Outcome.Verdict != precheck.TimedOut || !recs[0].FirstSeen.Equal(at) {
				t.Fatalf("Recall after Seal = %+v", recs[0])
			}
		}},
		{"a page of verdicts is sealed at once, each first decision kept", func(t *testing.T, l Ledger, id string) {
			early := precheck.Outcome{Verdict: precheck.TimedOut, Cause: precheck.CauseStillRunning, FirstSeen: at.UnixMilli()}
			_, err := l.Seal(testContext(t), map[string]precheck.Outcome{id + "-b": early})
			must(t, err)
			passed := precheck.Outcome{Verdict: precheck.Passed, FirstSeen: at.UnixMilli()}
			got, err := l.Seal(testContext(t), map[string]precheck.Outcome{id + "-a": passed, id + "-b": passed, id + "-c": passed})
			must(t, err)
			if len(got) != 3 || got[id+"-a"].Verdict != precheck.Passed || got[id+"-b"].Verdict != precheck.TimedOut || got[id+"-c"].Verdict != precheck.Passed {
				t.Fatalf("Seal of a page = %+v, want b's first verdict and the others' own", got)
			}
		}},
		{"the newest requeue is kept", func(t *testing.T, l Ledger, id string) {
			must(t, l.NoteRequeued(testContext(t), []Requeued{{id, 3}, {id + "-other", 1}}))
			must(t, l.NoteRequeued(testContext(t), []Requeued{{id, 2}}))
			recs, err := l.Recall(testContext(t), []string{id, id + "-none"}, at)
			must(t, err)
			if recs[0].Requeued != 3 || recs[1].Requeued != 0 {
				t.Fatalf("Requeued = %d and %d, want 3 and 0", recs[0].Requeued, recs[1].Requeued)
			}
		}},
		{"a retired task is recalled done, without its verdict", func(t *testing.T, l Ledger, id string) {
			_, err := l.Recall(testContext(t), []string{id}, at)
			must(t, err)
			_, err = l.Seal(testContext(t), map[string]precheck.Outcome{id: {Verdict: precheck.Failed, FirstSeen: at.UnixMilli()}})
			must(t, err)
			must(t, l.NoteRequeued(testContext(t), []Requeued{{id, 2}}))
			must(t, l.Retire(testContext(t), []string{id}))
			for _, when := range []time.Time{at.Add(time.Hour), at.Add(2 * time.Hour)} {
				recs, err := l.Recall(testContext(t), []string{id}, when)
				must(t, err)
				if want := (TaskRecord{Done: true}); recs[0] != want {
					t.Fatalf("Recall of a retired task = %+v, want %+v", recs[0], want)
				}
			}
		}},
		{"a retired task is neither sealed nor requeued again", func(t *testing.T, l Ledger, id string) {
			must(t, l.Retire(testContext(t), []string{id}))
			got, err := l.Seal(testContext(t), map[string]precheck.Outcome{id: {Verdict: precheck.Passed}, id + "-other": {Verdict: precheck.Passed}})
			must(t, err)
			if _, sealed := got[id]; sealed || got[id+"-other"].Verdict != precheck.Passed {
				t.Fatalf("Seal = %+v, want only %s-other sealed", got, id)
			}
			must(t, l.NoteRequeued(testContext(t), []Requeued{{id, 3}}))
			recs, err := l.Recall(testContext(t), []string{id}, at)
			must(t, err)
			if want := (TaskRecord{Done: true}); recs[0] != want {
				t.Fatalf("Recall = %+v, want %+v", recs[0], want)
			}
		}},
		{"a page of tasks is retired at once, the rest kept", func(t *testing.T, l Ledger, id string) {
			ids := []string{id + "-a", id + "-b", id + "-c"}
			_, err := l.Recall(testContext(t), ids, at)
			must(t, err)
			must(t, l.Retire(testContext(t), []string{ids[0], ids[2]}))
			recs, err := l.Recall(testContext(t), ids, at.Add(time.Minute))
			must(t, err)
			if !recs[0].Done || recs[1].Done || !recs[1].FirstSeen.Equal(at) || recs[1].New || !recs[2].Done {
				t.Fatalf("Recall = %+v, want a and c done, b first seen %s", recs, at)
			}
		}},
		{"a page of tasks is recalled in order", func(t *testing.T, l Ledger, id string) {
			ids := []string{id + "-a", id + "-b", id + "-c"}
			_, err := l.Recall(testContext(t), ids[1:2], at)
			must(t, err)
			recs, err := l.Recall(testContext(t), ids, at.Add(time.Minute))
			must(t, err)
			want := []time.Time{at.Add(time.Minute), at, at.Add(time.Minute)}
			for i := range ids {
				if !recs[i].FirstSeen.Equal(want[i]) {
					t.Fatalf("Recall[%d].FirstSeen = %s, want %s", i, recs[i].FirstSeen, want[i])
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachLedger(t, func(t *testing.T, l Ledger) { tc.run(t, l, newKeys("x", 1)[0].TaskID) })
		})
	}
}

// TestConcurrentSendersSendOnce races holders over the same page of
// verdicts: each notification is sent exactly once.
func TestConcurrentSendersSendOnce(t *testing.T) {
	eachLedger(t, func(t *testing.T, l Ledger) {
		keys := newKeys("slack", 8)
		var sends [8]atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 20 {
					cs, err := l.Claim(testContext(t), keys, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					var mine []Lease
					for i, c := range cs {
						if c.State == Claimed {
							sends[i].Add(1)
							mine = append(mine, c.Lease)
						}
					}
					if len(mine) > 0 {
						if err := l.MarkSent(testContext(t), mine, ""); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
		wg.Wait()
		for i := range sends {
			if n := sends[i].Load(); n != 1 {
				t.Errorf("%s sent %d times", keys[i], n)
			}
		}
	})
}

func TestBadInput(t *testing.T) {
	eachLedger(t, func(t *testing.T, l Ledger) {
		ctx := testContext(t)
		mixed := append(newKeys("slack", 1), newKeys("dingtalk", 1)...)
		if _, err := l.Claim(ctx, mixed, time.Minute); err == nil {
			t.Error("Claim of two channels at once: no error")
		}
		if _, err := l.Claim(ctx, []Key{{TaskID: "t", Channel: "slack"}}, time.Minute); err == nil {
			t.Error("Claim of a key without verdict: no error")
		}
		if _, err := l.Claim(ctx, []Key{{TaskID: "t", Channel: "sl ack", Verdict: "V"}}, time.Minute); err == nil {
			t.Error("Claim on a channel with a space: no error")
		}
		if _, err := l.Claim(ctx, newKeys("slack", 1), 0); err == nil {
			t.Error("Claim with no ttl: no error")
		}
		if err := l.MarkSent(ctx, []Lease{{Key: newKeys("slack", 1)[0]}}, ""); err == nil {
			t.Error("MarkSent with a made-up lease: no error")
		}
		c := states(t, l, newKeys("slack", 1), time.Minute, Claimed)
		if err := l.NoteAttempt(ctx, leasesOf(c), Attempt{}, nil); err == nil {
			t.Error("NoteAttempt without a message: no error")
		}
		if _, err := l.Recall(ctx, []string{""}, at); err == nil {
			t.Error("Recall of an empty task id: no error")
		}
		if err := l.Retire(ctx, []string{""}); err == nil {
			t.Error("Retire of an empty task id: no error")
		}
	})
}

func TestCanceledAndClosed(t *testing.T) {
	eachLedger(t, func(t *testing.T, l Ledger) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Claim(ctx, newKeys("slack", 1), time.Minute); err == nil {
			t.Error("Claim with a canceled context: no error")
		}
		must(t, l.Close())
		if _, err := l.Claim(testContext(t), newKeys("slack", 1), time.Minute); !errors.Is(err, ErrClosed) {
			t.Errorf("Claim after Close = %v, want ErrClosed", err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
