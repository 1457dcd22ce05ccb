package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"maps"
	"slices"
	"sync"
	"time"

	"precheckwatch/precheck"
)

// Memory is a Ledger private to one process: maps under a mutex, with the
// same lease and retention rules as Redis. It is what "memory://" opens.
type Memory struct {
	mu     sync.Mutex
	notes  map[string]*note // by channel and Key.ID
	bodies map[string]*body // by channel and message
	tasks  map[string]*task // by task id
	// retired holds the retired tasks' expiry (Unix seconds) by a digest
	// of the task id: a sweep retires thousands, each kept for Retention,
	// so each costs 24 bytes whatever the length of its id.
	retired map[taskDigest]int64
	runs    runBook // fleet runs (run_memory.go)
	ends    runEnds // fleet runs' tallies (tally_memory.go)
	swept   int     // record count after the last sweep
	closed  bool
	now     func() time.Time // a test's clock can stand in
}

// note is one notification's record; a zero time means absent.
type note struct {
	ref        string
	sentUntil  time.Time
	token      string
	leaseUntil time.Time
	attempt    *Attempt
	until      time.Time // the attempt's retention
}

type body struct {
	data  []byte
	until time.Time
}

// taskDigest names a retired task in memory.
type taskDigest [16]byte

func digestOf(taskID string) taskDigest {
	sum := sha256.Sum256([]byte(taskID))
	return taskDigest(sum[:16])
}

type task struct {
	firstSeen time.Time
	outcome   *precheck.Outcome
	requeued  int
	until     time.Time
}

// NewMemory returns an empty memory ledger. Keep one for the life of the
// process: a new one remembers nothing.
func NewMemory() *Memory {
	return &Memory{notes: map[string]*note{}, bodies: map[string]*body{}, tasks: map[string]*task{}, retired: map[taskDigest]int64{}, now: time.Now}
}

// lock takes the mutex after checking ctx, and reports ErrClosed.
func (m *Memory) lock(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return time.Time{}, ErrClosed
	}
	now := m.now()
	m.sweep(now)
	return now, nil
}

func noteID(k Key) string { return k.Channel + " " + k.ID() }

// Recall implements Ledger.
func (m *Memory) Recall(ctx context.Context, taskIDs []string, seen time.Time) ([]TaskRecord, error) {
	if err := checkTasks(taskIDs); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]TaskRecord, len(taskIDs))
	for i, id := range taskIDs {
		if m.retain(id, now) {
			out[i].Done = true
			continue
		}
		t := m.tasks[id]
		if t == nil || !now.Before(t.until) {
			t = &task{firstSeen: seen.Truncate(time.Millisecond)}
			m.tasks[id] = t
			out[i].New = true
		}
		t.until = now.Add(Retention)
		out[i].FirstSeen, out[i].Outcome, out[i].Requeued = t.firstSeen, t.outcome, t.requeued
	}
	return out, nil
}

// NoteRequeued implements Ledger.
func (m *Memory) NoteRequeued(ctx context.Context, requeued []Requeued) error {
	for _, q := range requeued {
		if err := checkTasks([]string{q.TaskID}); err != nil {
			return err
		}
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, q := range requeued {
		if m.retain(q.TaskID, now) {
			continue
		}
		t := m.tasks[q.TaskID]
		if t == nil || !now.Before(t.until) {
			t = &task{firstSeen: now.Truncate(time.Millisecond)}
			m.tasks[q.TaskID] = t
		}
		t.requeued = max(t.requeued, q.Attempt)
		t.until = now.Add(Retention)
	}
	return nil
}

// Seal implements Ledger.
func (m *Memory) Seal(ctx context.Context, outcomes map[string]precheck.Outcome) (map[string]precheck.Outcome, error) {
	if err := checkTasks(slices.Collect(maps.Keys(outcomes))); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	sealed := make(map[string]precheck.Outcome, len(outcomes))
	for id, o := range outcomes {
		if m.retain(id, now) {
			continue
		}
		t := m.tasks[id]
		if t == nil || !now.Before(t.until) {
			t = &task{firstSeen: time.UnixMilli(o.FirstSeen)}
			m.tasks[id] = t
		}
		if t.outcome == nil {
			t.outcome = &o
		}
		t.until = now.Add(Retention)
		sealed[id] = *t.outcome
	}
	return sealed, nil
}

// Retire implements Ledger.
func (m *Memory) Retire(ctx context.Context, taskIDs []string) error {
	if err := checkTasks(taskIDs); err != nil {
		return err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	until := now.Add(Retention).Unix()
	for _, id := range taskIDs {
		delete(m.tasks, id)
		m.retired[digestOf(id)] = until
	}
	return nil
}

// retain reports whether the task is retired, and if so keeps it so for
// another Retention, as every use of a record does.
func (m *Memory) retain(taskID string, now time.Time) bool {
	d := digestOf(taskID)
	until, ok := m.retired[d]
	if !ok || now.Unix() >= until {
		return false
	}
	m.retired[d] = now.Add(Retention).Unix()
	return true
}

// Claim implements Ledger.
func (m *Memory) Claim(ctx context.Context, keys []Key, ttl time.Duration) ([]Claim, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	token := rand.Text()
	out := make([]Claim, len(keys))
	for i, k := range keys {
		n := m.note(k)
		switch {
		case now.Before(n.sentUntil):
			out[i] = Claim{State: Sent, Ref: n.ref}
		case now.Before(n.leaseUntil):
			out[i] = Claim{State: Busy}
		default:
			n.token, n.leaseUntil = token, now.Add(ttl)
			out[i] = Claim{State: Claimed, Lease: Lease{Key: k, token: token}}
			if n.attempt != nil && now.Before(n.until) {
				a := *n.attempt
				out[i].Prior = &a
			}
		}
	}
	return out, nil
}

func (m *Memory) note(k Key) *note {
	id := noteID(k)
	n := m.notes[id]
	if n == nil {
		n = &note{}
		m.notes[id] = n
	}
	return n
}

// NoteAttempt implements Ledger.
func (m *Memory) NoteAttempt(ctx context.Context, leases []Lease, a Attempt, data []byte) error {
	if err := checkLeases(leases); err != nil {
		return err
	}
	if err := checkAttempt(a); err != nil {
		return err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, l := range leases {
		if n := m.note(l.Key); n.token != l.token || !now.Before(n.leaseUntil) {
			return ErrLeaseLost
		}
	}
	for _, l := range leases {
		n := m.note(l.Key)
		n.attempt, n.until = &a, now.Add(Retention)
	}
	if len(data) > 0 && len(leases) > 0 {
		m.bodies[leases[0].Key.Channel+" "+a.Message] = &body{data: bytes.Clone(data), until: now.Add(Retention)}
	}
	return nil
}

// MarkSent implements Ledger.
func (m *Memory) MarkSent(ctx context.Context, leases []Lease, ref string) error {
	return m.eachLease(ctx, leases, func(now time.Time, n *note, token string) {
		if !now.Before(n.sentUntil) {
			n.ref = ref
		}
		n.sentUntil = now.Add(Retention)
		n.dropLease(token)
	})
}

// VoidAttempt implements Ledger.
func (m *Memory) VoidAttempt(ctx context.Context, leases []Lease, message string) error {
	return m.eachLease(ctx, leases, func(_ time.Time, n *note, token string) {
		if n.attempt != nil && n.attempt.Message == message {
			n.attempt = nil
		}
		n.dropLease(token)
	})
}

// Release implements Ledger.
func (m *Memory) Release(ctx context.Context, leases []Lease) error {
	return m.eachLease(ctx, leases, func(_ time.Time, n *note, token string) { n.dropLease(token) })
}

// eachLease runs change on the note of every lease, under the mutex.
func (m *Memory) eachLease(ctx context.Context, leases []Lease, change func(now time.Time, n *note, token string)) error {
	if err := checkLeases(leases); err != nil {
		return err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, l := range leases {
		change(now, m.note(l.Key), l.token)
	}
	return nil
}

// dropLease ends n's lease if token still holds it.
func (n *note) dropLease(token string) {
	if n.token == token {
		n.token, n.leaseUntil = "", time.Time{}
	}
}

// SentRefs implements Ledger.
func (m *Memory) SentRefs(ctx context.Context, keys []Key) (map[Key]string, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	now, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := map[Key]string{}
	for _, k := range keys {
		if n := m.notes[noteID(k)]; n != nil && now.Before(n.sentUntil) {
			out[k] = n.ref
		}
	}
	return out, nil
}

// Body implements Ledger.
func (m *Memory) Body(ctx context.Context, channel, message string) ([]byte, bool, error) {
	now, err := m.lock(ctx)
	if err != nil {
		return nil, false, err
	}
	defer m.mu.Unlock()
	b := m.bodies[channel+" "+message]
	if b == nil || !now.Before(b.until) {
		return nil, false, nil
	}
	return bytes.Clone(b.data), true, nil
}

// Close implements Ledger; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.notes, m.bodies, m.tasks, m.retired = nil, nil, nil, nil
	return nil
}

// sweep drops expired records once their number has doubled since the last
// sweep, so a long-lived instance does not grow without bound and the cost
// stays constant per call on average.
func (m *Memory) sweep(now time.Time) {
	if m.records() < 2*m.swept+64 {
		return
	}
	for id, n := range m.notes {
		if !now.Before(n.sentUntil) && !now.Before(n.leaseUntil) && !now.Before(n.until) {
			delete(m.notes, id)
		}
	}
	for id, b := range m.bodies {
		if !now.Before(b.until) {
			delete(m.bodies, id)
		}
	}
	for id, t := range m.tasks {
		if !now.Before(t.until) {
			delete(m.tasks, id)
		}
	}
	for d, until := range m.retired {
		if now.Unix() >= until {
			delete(m.retired, d)
		}
	}
	m.swept = m.records()
}

func (m *Memory) records() int {
	return len(m.notes) + len(m.bodies) + len(m.tasks) + len(m.retired)
}
