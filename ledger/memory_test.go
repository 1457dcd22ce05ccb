package ledger

import (
	"fmt"
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
