package ledger

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"precheckwatch/precheck"
)

// TestMemoryRetiredRecordsExpire: a retired task is done for Retention
// after its last use, then forgotten, and the sweep drops it.
func TestMemoryRetiredRecordsExpire(t *testing.T) {
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("t-retire%03d", i)
	}
	retired := func(t *testing.T) (*Memory, *time.Time) {
		m := NewMemory()
		now := at
		m.now = func() time.Time { return now }
		_, err := m.Seal(testContext(t), map[string]precheck.Outcome{ids[0]: {Verdict: precheck.Passed}})
		must(t, err)
		must(t, m.Retire(testContext(t), ids))
		if len(m.tasks) != 0 || len(m.retired) != len(ids) {
			t.Fatalf("after Retire: %d task records, %d retired; want 0 and %d", len(m.tasks), len(m.retired), len(ids))
		}
		return m, &now
	}
	t.Run("done within Retention of its last use", func(t *testing.T) {
		m, now := retired(t)
		for _, step := range []time.Duration{Retention - time.Second, Retention - time.Second} {
			*now = now.Add(step)
			recs, err := m.Recall(testContext(t), ids[:1], *now)
			must(t, err)
			if !recs[0].Done {
				t.Fatalf("Recall %s after its last use = %+v, want done", step, recs[0])
			}
		}
		*now = now.Add(Retention)
		recs, err := m.Recall(testContext(t), ids[:1], *now)
		must(t, err)
		if recs[0].Done || !recs[0].New {
			t.Fatalf("Recall after Retention = %+v, want a new record", recs[0])
		}
	})
	t.Run("swept once expired", func(t *testing.T) {
		m, now := retired(t)
		*now = now.Add(Retention)
		_, err := m.Recall(testContext(t), []string{"t-other"}, *now)
		must(t, err)
		if len(m.retired) != 0 {
			t.Fatalf("%d retired records left after the sweep, want 0", len(m.retired))
		}
	})
}

// TestMemoryKeepsNothingOfDeliveredDigests: once a digest's verdicts are all
// sent its body goes, and once their tasks retire so do their records, so
// that a sweep of thousands of tasks leaves 24 bytes of each behind.
func TestMemoryKeepsNothingOfDeliveredDigests(t *testing.T) {
	m := NewMemory()
	ctx := testContext(t)
	var ids []string
	for _, channel := range []string{"dingtalk", "feishu"} {
		keys := newKeys(channel, 40)
		c, err := m.Claim(ctx, keys, time.Minute)
		must(t, err)
		must(t, m.NoteAttempt(ctx, leasesOf(c), Attempt{Message: channel + "-page-1", At: at}, []byte("the digest")))
		if len(m.bodies) == 0 {
			t.Fatalf("no body kept for %s's digest before its send", channel)
		}
		must(t, m.MarkSent(ctx, leasesOf(c), "ref"))
		for _, k := range keys {
			ids = append(ids, k.TaskID)
		}
	}
	if len(m.bodies) != 0 {
		t.Fatalf("%d bodies kept after every verdict of theirs was sent, want 0", len(m.bodies))
	}
	must(t, m.Retire(ctx, ids))
	if len(m.notes) != 0 || len(m.tasks) != 0 || len(m.retired) != len(ids) {
		t.Fatalf("after Retire: %d tasks' notifications, %d task records, %d retired; want 0, 0 and %d",
			len(m.notes), len(m.tasks), len(m.retired), len(ids))
	}
}

// BenchmarkMemoryKeptPerTask measures what the memory ledger keeps of a
// task once it is delivered and retired, as a sweep leaves it: recalled,
// sealed, then posted on three channels in digest pages of 60 (DingTalk and
// Feishu keeping each page's 20 KB body for a repeat), and retired. The
// heap left behind is reported per task (kept-B/task).
func BenchmarkMemoryKeptPerTask(b *testing.B) {
	const pageSize = 60
	ctx := context.Background()
	page := bytes.Repeat([]byte("x"), 20<<10)
	m := NewMemory()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for start := 0; start < b.N; start += pageSize {
		ids := make([]string, min(pageSize, b.N-start))
		outcomes := map[string]precheck.Outcome{}
		for i := range ids {
			ids[i] = fmt.Sprintf("t-bench%015d", start+i)
			outcomes[ids[i]] = precheck.Outcome{Verdict: precheck.Passed, FirstSeen: at.UnixMilli()}
		}
		if _, err := m.Recall(ctx, ids, at); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Seal(ctx, outcomes); err != nil {
			b.Fatal(err)
		}
		for _, channel := range []string{"slack", "dingtalk", "feishu"} {
			keys := make([]Key, len(ids))
			for i, id := range ids {
				keys[i] = Key{TaskID: id, Channel: channel, Verdict: string(precheck.Passed)}
			}
			c, err := m.Claim(ctx, keys, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			var body []byte
			if channel != "slack" {
				body = page
			}
			a := Attempt{Message: fmt.Sprintf("%s-page-%d", channel, start), At: at}
			if err := m.NoteAttempt(ctx, leasesOf(c), a, body); err != nil {
				b.Fatal(err)
			}
			if err := m.MarkSent(ctx, leasesOf(c), "C0 1700000000.000100"); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Retire(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "kept-B/task")
	runtime.KeepAlive(m)
}
