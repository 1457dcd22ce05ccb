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
// What no later call can need it forgets at once, where Redis lets it
// expire: a digest's body once every verdict in it is sent, and a retired
// task's sent notifications, so that its size follows the tasks in flight,
// not every task of the retention.
type Memory struct {
	mu sync.Mutex
	// notes holds each task's notifications by task id (Key.TaskID), so
	// that retiring a task drops them at once.
	notes  map[string][]*note
	bodies map[string]*body // by channel and message
	tasks  map[string]*task // by task id
	// retired holds the retired tasks' expiry (Unix seconds) by a digest
	// of the task id: a sweep retires thousands, each kept for Retention,
	// so each costs 16 bytes whatever the length of its id.
	retired map[taskDigest]uint32
	runs    runBook // fleet runs (run_memory.go)
	ends    runEnds // fleet runs' tallies (tally_memory.go)
	swept   int     // record count after the last sweep
	closed  bool
	now     func() time.Time // a test's clock can stand in
}

// note is one notification's record; a zero time means absent.
type note struct {
	channel, verdict string // with the task id, the notification's Key
	ref              string
	sentUntil        time.Time
	token            string
	leaseUntil       time.Time
	// attempt is the message the notification is bound to until it is
	// sent: once sent, no holder settles or repeats the attempt.
	attempt *Attempt
	until   time.Time // the attempt's retention
}

func (n *note) is(k Key) bool { return n.channel == k.Channel && n.verdict == k.Verdict }

// body is a digest's content, kept for an exact repeat while any verdict
// bound to the digest is unsent: once every one is sent, no holder repeats
// it, and a sweep of thousands of tasks does not keep each page it posted.
type body struct {
	data  []byte
	until time.Time
	bound int // the notifications bound to the message
}

// taskDigest names a retired task in memory: 96 bits of its id's SHA-256.
// Two ids sharing one would take a task for retired; among a billion ids
// the chance of that is below 10^-11.
type taskDigest [12]byte

func digestOf(taskID string) taskDigest {
	sum := sha256.Sum256([]byte(taskID))
	return taskDigest(sum[:12])
}

// expiry is t in Unix seconds, as retired keeps it (good until 2106).
func expiry(t time.Time) uint32 { return uint32(t.Unix()) }

type task struct {
	firstSeen time.Time
	outcome   *precheck.Outcome
	requeued  int
	until     time.Time
}

// NewMemory returns an empty memory ledger. Keep one for the life of the
// process: a new one remembers nothing.
func NewMemory() *Memory {
	return &Memory{notes: map[string][]*note{}, bodies: map[string]*body{}, tasks: map[string]*task{}, retired: map[taskDigest]uint32{}, now: time.Now}
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

func bodyID(channel, message string) string { return channel + " " + message }

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
	until := expiry(now.Add(Retention))
	for _, id := range taskIDs {
		delete(m.tasks, id)
		m.retired[digestOf(id)] = until
		m.dropSent(id, now)
	}
	return nil
}

// dropSent forgets the retired task's sent notifications: Claim answers
// Sent for any notification of a retired task it has no record of. A
// notification not sent keeps its record, as Redis keeps it, so that one
// retired before its send was settled is still sent once.
func (m *Memory) dropSent(taskID string, now time.Time) {
	kept := slices.DeleteFunc(m.notes[taskID], func(n *note) bool { return now.Before(n.sentUntil) })
	if len(kept) == 0 {
		delete(m.notes, taskID)
		return
	}
	m.notes[taskID] = kept
}

// retain reports whether the task is retired, and if so keeps it so for
// another Retention, as every use of a record does.
func (m *Memory) retain(taskID string, now time.Time) bool {
	d := digestOf(taskID)
	if until, ok := m.retired[d]; !ok || expiry(now) >= until {
		return false
	}
	m.retired[d] = expiry(now.Add(Retention))
	return true
}

func (m *Memory) isRetired(taskID string, now time.Time) bool {
	until, ok := m.retired[digestOf(taskID)]
	return ok && expiry(now) < until
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
		n := m.find(k)
		if n == nil {
			if m.isRetired(k.TaskID, now) {
				out[i] = Claim{State: Sent}
				continue
			}
			n = m.add(k)
		}
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

// find returns k's record, nil if there is none.
func (m *Memory) find(k Key) *note {
	for _, n := range m.notes[k.TaskID] {
		if n.is(k) {
			return n
		}
	}
	return nil
}

// note returns k's record, making an empty one if there is none.
func (m *Memory) note(k Key) *note {
	if n := m.find(k); n != nil {
		return n
	}
	return m.add(k)
}

// add makes k's record, empty; k has none.
func (m *Memory) add(k Key) *note {
	n := &note{channel: k.Channel, verdict: k.Verdict}
	m.notes[k.TaskID] = append(m.notes[k.TaskID], n)
	return n
}

// bind binds n to attempt a, or to none when a is nil, counting the
// notifications bound to each kept body.
func (m *Memory) bind(n *note, a *Attempt) {
	old := n.attempt
	n.attempt = a
	if a != nil {
		if b := m.bodies[bodyID(n.channel, a.Message)]; b != nil {
			b.bound++
		}
	}
	if old != nil {
		id := bodyID(n.channel, old.Message)
		if b := m.bodies[id]; b != nil {
			if b.bound--; b.bound <= 0 {
				delete(m.bodies, id)
			}
		}
	}
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
	if len(data) > 0 && len(leases) > 0 {
		id := bodyID(leases[0].Key.Channel, a.Message)
		b := m.bodies[id]
		if b == nil {
			b = &body{}
			m.bodies[id] = b
		}
		b.data, b.until = bytes.Clone(data), now.Add(Retention)
	}
	for _, l := range leases {
		n := m.note(l.Key)
		m.bind(n, &a)
		n.until = now.Add(Retention)
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
		m.bind(n, nil)
		n.dropLease(token)
	})
}

// VoidAttempt implements Ledger.
func (m *Memory) VoidAttempt(ctx context.Context, leases []Lease, message string) error {
	return m.eachLease(ctx, leases, func(_ time.Time, n *note, token string) {
		if n.attempt != nil && n.attempt.Message == message {
			m.bind(n, nil)
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
		if n := m.find(k); n != nil && now.Before(n.sentUntil) {
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
	b := m.bodies[bodyID(channel, message)]
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
	for id, notes := range m.notes {
		notes = slices.DeleteFunc(notes, func(n *note) bool {
			expired := !now.Before(n.sentUntil) && !now.Before(n.leaseUntil) && !now.Before(n.until)
			if expired {
				m.bind(n, nil)
			}
			return expired
		})
		if len(notes) == 0 {
			delete(m.notes, id)
		} else {
			m.notes[id] = notes
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
		if expiry(now) >= until {
			delete(m.retired, d)
		}
	}
	m.swept = m.records()
}

func (m *Memory) records() int {
	return len(m.notes) + len(m.bodies) + len(m.tasks) + len(m.retired)
}
