package mns

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the service (reference §3).
const (
	MaxBatch             = 16
	MaxMessageSize       = 65536
	MaxDelay             = 604800 * time.Second
	MaxVisibilityTimeout = 43200 * time.Second
	MaxWait              = 30 * time.Second
	DefaultPriority      = 8
)

// QueueAttributes are a queue's settings. A zero field takes the service
// default (VisibilityTimeout 30 s, MaximumMessageSize 65536,
// MessageRetentionPeriod 345600 s); DelaySeconds and PollingWaitSeconds
// default to 0.
type QueueAttributes struct {
	DelaySeconds           int
	MaximumMessageSize     int
	MessageRetentionPeriod int
	VisibilityTimeout      int
	PollingWaitSeconds     int
}

func (a QueueAttributes) withDefaults() QueueAttributes {
	if a.MaximumMessageSize == 0 {
		a.MaximumMessageSize = MaxMessageSize
	}
	if a.MessageRetentionPeriod == 0 {
		a.MessageRetentionPeriod = 345600
	}
	if a.VisibilityTimeout == 0 {
		a.VisibilityTimeout = 30
	}
	return a
}

func (a QueueAttributes) validate() *Error {
	switch {
	case a.DelaySeconds < 0 || a.DelaySeconds > int(MaxDelay/time.Second):
		return errDelayRange
	case a.MaximumMessageSize < 1024 || a.MaximumMessageSize > MaxMessageSize:
		return invalidArgument("The value of MaximumMessageSize should between 1024 and 65536")
	case a.MessageRetentionPeriod < 60 || a.MessageRetentionPeriod > 604800:
		return invalidArgument("The value of MessageRetentionPeriod should between 60 and 604800")
	case a.VisibilityTimeout < 1 || a.VisibilityTimeout > int(MaxVisibilityTimeout/time.Second):
		return errVisibilityRange
	case a.PollingWaitSeconds < 0 || a.PollingWaitSeconds > int(MaxWait/time.Second):
		return invalidArgument("The value of PollingWaitSeconds should between 0 and 30")
	}
	return nil
}

// Message is one message as a consumer sees it.
type Message struct {
	ID               string
	Handle           string // empty for peeked messages
	Body             string
	BodyMD5          string // upper-case hex MD5 of Body
	Priority         int
	DequeueCount     int
	EnqueueTime      time.Time
	FirstDequeueTime time.Time // zero until the first receive
	NextVisibleTime  time.Time
}

// QueueStats counts a queue's messages by state.
type QueueStats struct {
	Active   int // receivable now
	Delayed  int // sent with a delay that has not passed, never received
	Inactive int // received and within their visibility timeout
}

type message struct {
	seq          uint64
	id           string
	body         string
	md5          string
	priority     int
	enqueued     time.Time
	visibleAt    time.Time
	firstDequeue time.Time
	dequeueCount int
	handle       string // the only handle that works now; "" if none was issued
}

func (m *message) view(withHandle bool) Message {
	v := Message{
		ID: m.id, Body: m.body, BodyMD5: m.md5, Priority: m.priority,
		DequeueCount: m.dequeueCount, EnqueueTime: m.enqueued,
		FirstDequeueTime: m.firstDequeue,
	}
	if withHandle {
		v.Handle = m.handle
		v.NextVisibleTime = m.visibleAt
	}
	return v
}

type queue struct {
	name     string
	attrs    QueueAttributes
	created  time.Time
	modified time.Time
	msgs     map[uint64]*message
	// changed is closed and replaced whenever a message may have become
	// receivable, waking long polls.
	changed chan struct{}
	polling int // long polls waiting on changed
}

func (q *queue) notify() {
	close(q.changed)
	q.changed = make(chan struct{})
}

var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func checkQueueName(name string) *Error {
	if len(name) == 0 || len(name) > 256 {
		return errQueueNameLength
	}
	if !queueNamePattern.MatchString(name) {
		return errInvalidQueueName
	}
	return nil
}

// now is the queue clock: the configured clock plus every Advance. Callers
// hold s.mu.
func (s *Server) now() time.Time { return s.wallClock().Add(s.offset) }

// lookup returns the queue and drops its expired messages. Callers hold s.mu.
func (s *Server) lookup(name string) (*queue, *Error) {
	q := s.queues[name]
	if q == nil {
		return nil, errQueueNotExist
	}
	cutoff := s.now().Add(-time.Duration(q.attrs.MessageRetentionPeriod) * time.Second)
	for seq, m := range q.msgs {
		if m.enqueued.Before(cutoff) {
			delete(q.msgs, seq)
		}
	}
	return q, nil
}

// CreateQueue creates a queue. It returns nil when the queue already exists
// with the same attributes and a QueueAlreadyExist error when they differ.
func (s *Server) CreateQueue(name string, attrs QueueAttributes) error {
	if _, err := s.createQueue(name, attrs); err != nil {
		return err
	}
	return nil
}

func (s *Server) createQueue(name string, attrs QueueAttributes) (created bool, err *Error) {
	if err := checkQueueName(name); err != nil {
		return false, err
	}
	attrs = attrs.withDefaults()
	if err := attrs.validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[name]; q != nil {
		if q.attrs != attrs {
			return false, errQueueAlreadyExist
		}
		return false, nil
	}
	now := s.now()
	s.queues[name] = &queue{name: name, attrs: attrs, created: now, modified: now,
		msgs: map[uint64]*message{}, changed: make(chan struct{})}
	return true, nil
}

// DeleteQueue removes a queue and its messages; deleting a missing queue is
// not an error.
func (s *Server) DeleteQueue(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[name]; q != nil {
		delete(s.queues, name)
		q.notify()
	}
}

// outgoing is one message to enqueue; delay < 0 means the queue's default.
type outgoing struct {
	body     string
	delay    time.Duration
	priority int
}

func (s *Server) checkOutgoing(q *queue, o outgoing) *Error {
	switch {
	case o.priority < 1 || o.priority > 16:
		return errPriorityRange
	case o.delay > MaxDelay:
		return errDelayRange
	case o.body == "":
		return errMessageEmpty
	case len(o.body) > q.attrs.MaximumMessageSize:
		return errMessageTooLong
	}
	return nil
}

// enqueue adds a checked message and returns it. Callers hold s.mu.
func (s *Server) enqueue(q *queue, o outgoing) *message {
	now := s.now()
	delay := o.delay
	if delay < 0 {
		delay = time.Duration(q.attrs.DelaySeconds) * time.Second
	}
	s.seq++
	sum := md5.Sum([]byte(o.body))
	m := &message{
		seq:       s.seq,
		id:        fmt.Sprintf("%016X%016X", s.idPrefix, s.seq),
		body:      o.body,
		md5:       strings.ToUpper(hex.EncodeToString(sum[:])),
		priority:  o.priority,
		enqueued:  now,
		visibleAt: now.Add(delay),
	}
	if delay > 0 {
		// A delayed send answers with a handle (reference §3).
		m.handle = s.newHandle(m)
	}
	q.msgs[m.seq] = m
	q.notify()
	return m
}

// Send enqueues body with priority 8, visible after delay, and returns the
// message id. It is SendMessage without HTTP, for the rest of the local
// cloud.
func (s *Server) Send(queueName, body string, delay time.Duration) (string, error) {
	if delay < 0 {
		return "", errDelayRange
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(queueName)
	if err != nil {
		return "", err
	}
	o := outgoing{body: body, delay: delay, priority: DefaultPriority}
	if err := s.checkOutgoing(q, o); err != nil {
		return "", err
	}
	return s.enqueue(q, o).id, nil
}

// Receive takes up to max receivable messages without waiting, hiding them
// for visibility (0 = the queue's VisibilityTimeout). An empty queue is an
// empty slice, not an error.
func (s *Server) Receive(queueName string, max int, visibility time.Duration) ([]Message, error) {
	msgs, err := s.ReceiveWait(context.Background(), queueName, max, visibility, 0)
	if err == errMessageNotExist {
		return nil, nil
	}
	return msgs, err
}

// ReceiveWait is Receive that waits up to wait for a message to arrive, as a
// long poll does. It answers MessageNotExist when none came and ctx.Err()
// (taking nothing) when ctx ends first.
func (s *Server) ReceiveWait(ctx context.Context, queueName string, n int, visibility, wait time.Duration) ([]Message, error) {
	if n < 1 || n > MaxBatch {
		return nil, errNumOfMessagesRange
	}
	if visibility < 0 || visibility > MaxVisibilityTimeout || (visibility > 0 && visibility < time.Second) {
		return nil, errVisibilityRange
	}
	if wait < 0 || wait > MaxWait {
		return nil, errWaitSecondsRange
	}
	return s.take(ctx, queueName, n, visibility, wait, false)
}

// take is receive and peek with long polling. Wait time is real time (a
// client waits on the wire), while delays and visibility follow the queue
// clock, which Advance moves; Advance wakes the waiters.
func (s *Server) take(ctx context.Context, queueName string, n int, visibility, wait time.Duration, peek bool) ([]Message, error) {
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		q, qerr := s.lookup(queueName)
		if qerr != nil {
			s.mu.Unlock()
			return nil, qerr
		}
		if err := ctx.Err(); err != nil {
			// The client went away: a long poll must not dequeue for nobody.
			s.mu.Unlock()
			return nil, err
		}
		now := s.now()
		var ready []*message
		next := time.Time{}
		for _, m := range q.msgs {
			if !m.visibleAt.After(now) {
				ready = append(ready, m)
			} else if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
		}
		if len(ready) > 0 {
			// Priority 1 first, then the longest-waiting message.
			sort.Slice(ready, func(i, j int) bool {
				a, b := ready[i], ready[j]
				if a.priority != b.priority {
					return a.priority < b.priority
				}
				if !a.visibleAt.Equal(b.visibleAt) {
					return a.visibleAt.Before(b.visibleAt)
				}
				return a.seq < b.seq
			})
			if len(ready) > n {
				ready = ready[:n]
			}
			out := make([]Message, len(ready))
			for i, m := range ready {
				if !peek {
					vis := visibility
					if vis == 0 {
						vis = time.Duration(q.attrs.VisibilityTimeout) * time.Second
					}
					m.dequeueCount++
					if m.firstDequeue.IsZero() {
						m.firstDequeue = now
					}
					m.visibleAt = now.Add(vis)
					m.handle = s.newHandle(m)
				}
				out[i] = m.view(!peek)
			}
			s.mu.Unlock()
			return out, nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			s.mu.Unlock()
			return nil, errMessageNotExist
		}
		if !next.IsZero() && next.Sub(now) < remaining {
			remaining = max(next.Sub(now), time.Millisecond)
		}
		changed := q.changed
		q.polling++
		s.mu.Unlock()

		timer := time.NewTimer(remaining)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		s.mu.Lock()
		q.polling--
		s.mu.Unlock()
	}
}

// newHandle issues a fresh receipt handle for m, retiring the previous one.
// Its shape follows the service's: "1-" and base64 of dash-joined numbers.
// Callers hold s.mu.
func (s *Server) newHandle(m *message) string {
	s.handleGen++
	raw := fmt.Sprintf("%d-%d-%d", m.seq, s.handleGen, m.visibleAt.UnixMilli())
	return "1-" + base64.StdEncoding.EncodeToString([]byte(raw))
}

// parseHandle returns the message sequence a handle names, or
// ReceiptHandleError when it is not a handle this service could have issued.
func parseHandle(handle string) (uint64, *Error) {
	enc, ok := strings.CutPrefix(handle, "1-")
	if !ok {
		return 0, errReceiptHandle
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || !utf8.Valid(raw) {
		return 0, errReceiptHandle
	}
	parts := strings.Split(string(raw), "-")
	if len(parts) != 3 {
		return 0, errReceiptHandle
	}
	for _, p := range parts[1:] {
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			return 0, errReceiptHandle
		}
	}
	seq, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil {
		return 0, errReceiptHandle
	}
	return seq, nil
}

// holder returns the message a handle currently controls: a malformed handle
// is ReceiptHandleError, a stale or superseded one MessageNotExist (a handle
// dies when its message becomes visible again or gets a newer handle).
// Callers hold s.mu.
func (s *Server) holder(q *queue, handle string) (*message, *Error) {
	seq, err := parseHandle(handle)
	if err != nil {
		return nil, err
	}
	m := q.msgs[seq]
	if m == nil || m.handle != handle || !m.visibleAt.After(s.now()) {
		return nil, errMessageNotExist
	}
	return m, nil
}

// Delete deletes the message handle controls.
func (s *Server) Delete(queueName, handle string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deleteLocked(queueName, handle); err != nil {
		return err
	}
	return nil
}

func (s *Server) deleteLocked(queueName, handle string) *Error {
	q, err := s.lookup(queueName)
	if err != nil {
		return err
	}
	m, err := s.holder(q, handle)
	if err != nil {
		return err
	}
	delete(q.msgs, m.seq)
	return nil
}

// ChangeVisibility hides the message handle controls for d from now and
// returns the new handle; the old one stops working.
func (s *Server) ChangeVisibility(queueName, handle string, d time.Duration) (Message, error) {
	if d < time.Second || d > MaxVisibilityTimeout {
		return Message{}, errVisibilityRange
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(queueName)
	if err != nil {
		return Message{}, err
	}
	m, err := s.holder(q, handle)
	if err != nil {
		return Message{}, err
	}
	m.visibleAt = s.now().Add(d)
	m.handle = s.newHandle(m)
	q.notify()
	return m.view(true), nil
}

// Stats counts the queue's messages by state; a missing queue counts zero.
func (s *Server) Stats(queueName string) QueueStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(queueName)
	if err != nil {
		return QueueStats{}
	}
	return s.statsLocked(q)
}

// Polling is how many long polls on the queue are waiting for a message
// now: tests wait on it rather than on time to know a receive is parked or
// has given up.
func (s *Server) Polling(queueName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(queueName)
	if err != nil {
		return 0
	}
	return q.polling
}

func (s *Server) statsLocked(q *queue) QueueStats {
	var st QueueStats
	now := s.now()
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			st.Active++
		case m.dequeueCount == 0:
			st.Delayed++
		default:
			st.Inactive++
		}
	}
	return st
}

// Messages lists every message of the queue, whatever its state, in the
// order they were sent, without changing anything (for assertions).
func (s *Server) Messages(queueName string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(queueName)
	if err != nil {
		return nil
	}
	all := make([]*message, 0, len(q.msgs))
	for _, m := range q.msgs {
		all = append(all, m)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	out := make([]Message, len(all))
	for i, m := range all {
		out[i] = m.view(true)
	}
	return out
}

// Bodies lists the bodies of Messages.
func (s *Server) Bodies(queueName string) []string {
	msgs := s.Messages(queueName)
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

// Advance moves the queue clock forward by d, so delays and visibility
// timeouts pass without waiting. Request Date checks keep the real clock,
// since clients sign with theirs.
func (s *Server) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
	for _, q := range s.queues {
		q.notify()
	}
}
