package eventbridge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/mns"
)

// Queue is the MNS source of a stream. *mns.Server satisfies it.
type Queue interface {
	// Receive takes up to max messages without waiting and hides them for
	// visibility (0: the queue's VisibilityTimeout); an empty queue is an
	// empty slice.
	Receive(queue string, max int, visibility time.Duration) ([]mns.Message, error)
	// Delete removes the message that handle controls.
	Delete(queue, handle string) error
}

// The CloudEvent fields EventBridge fixes for an MNS queue source
// (fc-runtime-go-sdk events/README_MNS_Queue.md, reference fc-runtime.md §2.2).
const (
	mnsEventType    = "mns:Queue:SendMessage"
	specVersion     = "1.0"
	dataContentType = "application/json;charset=utf-8"
	publishAddr     = "127.0.0.1"
)

// RetryStrategy is runOptions.retryStrategy.PushRetryStrategy: how often
// and how far apart a failed push is repeated (EventBridge "Retry policies
// and dead-letter queues", reference fc-runtime.md §4 and §7).
type RetryStrategy int

// The push retry strategies.
const (
	// BackoffRetry (BACKOFF_RETRY, the default) retries 3 times, each
	// after a random 10 to 20 s.
	BackoffRetry RetryStrategy = iota
	// ExponentialDecayRetry (EXPONENTIAL_DECAY_RETRY) retries 176 times,
	// 1 s after the first failure, doubling up to 512 s apart: about one
	// day in all.
	ExponentialDecayRetry
)

// String is the strategy's name in runOptions.
func (r RetryStrategy) String() string {
	if r == ExponentialDecayRetry {
		return "EXPONENTIAL_DECAY_RETRY"
	}
	return "BACKOFF_RETRY"
}

// retries is how many retries the strategy makes.
func (r RetryStrategy) retries() int {
	if r == ExponentialDecayRetry {
		return 176
	}
	return 3
}

// delay is the real wait before retry n (1-based).
func (r RetryStrategy) delay(n int) time.Duration {
	if r == ExponentialDecayRetry {
		return time.Second << min(n-1, 9) // 1 s, 2 s, … 512 s, then 512 s
	}
	return 10*time.Second + mathrand.N(10*time.Second+1)
}

// StreamConfig configures a Stream: the trigger's eventSourceParameters
// (sourceMNSParameters) and runOptions. Zero fields take the defaults named
// on each.
type StreamConfig struct {
	// Queue and QueueName are the source (QueueName). Required.
	Queue     Queue
	QueueName string
	// FunctionName and TriggerName name the event bus
	// "MNS-<function>-<trigger>". FunctionName is required; TriggerName
	// defaults to "mnsTrigger".
	FunctionName, TriggerName string
	// Region (default cn-hangzhou) and AccountID (default
	// 1234567890123456) go into subject and the aliyun* attributes.
	Region, AccountID string
	// BatchSize is batchWindow.CountBasedWindow, 1..10000, default 10.
	BatchSize int
	// BatchWindow is batchWindow.TimeBasedWindow, 0..15 s, default 1 s: a
	// batch is pushed when it is full or BatchWindow after its first
	// message arrived.
	BatchWindow time.Duration
	// Concurrency is how many pushes may be in flight at once, each a
	// synchronous invocation that holds its batch until the function
	// returns; default 4. EventBridge pushes a stream's batches in
	// parallel but documents no figure (unverified).
	Concurrency int
	// SingleEvent pushes each message as one CloudEvent object, FC 2.0's
	// shape, instead of FC 3.0's JSON array.
	SingleEvent bool
	// SkipBase64Decode is IsBase64Decode: false. By default (true) a body
	// that is valid standard base64 is decoded before it becomes
	// data.messageBody; any other body passes unchanged.
	SkipBase64Decode bool
	// RetryStrategy is PushRetryStrategy, default BackoffRetry.
	RetryStrategy RetryStrategy
	// Retries is MaximumRetryAttempts: the retries after a failed push,
	// default the strategy's; negative means none.
	Retries int
	// RetryScale multiplies every retry interval, default 1 (real time);
	// tests pass 0.01 to wait 100-200 ms where EventBridge waits 10-20 s.
	RetryScale float64
	// DeadLetter is deadLetterQueue: it receives each CloudEvent of a
	// batch whose retries ran out, and the message is then deleted from
	// the source. Nil discards such messages, as EventBridge does without a
	// dead-letter queue.
	DeadLetter func(ctx context.Context, event []byte) error
	// PollInterval separates receives that found nothing, default 100 ms.
	PollInterval time.Duration
	// Logger receives push failures and queue errors; nil discards them.
	Logger *slog.Logger
}

func (c StreamConfig) withDefaults() (StreamConfig, error) {
	if c.Queue == nil || c.QueueName == "" {
		return c, errors.New("eventbridge: StreamConfig.Queue and QueueName are required")
	}
	if c.FunctionName == "" {
		return c, errors.New("eventbridge: StreamConfig.FunctionName is required")
	}
	if c.TriggerName == "" {
		c.TriggerName = "mnsTrigger"
	}
	if c.Region == "" {
		c.Region = defaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = defaultAccountID
	}
	if c.BatchSize == 0 {
		c.BatchSize = 10
	}
	if c.BatchWindow == 0 {
		c.BatchWindow = time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	switch {
	case c.Retries == 0:
		c.Retries = c.RetryStrategy.retries()
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.RetryScale == 0 {
		c.RetryScale = 1
	}
	if c.PollInterval == 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	switch {
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return c, fmt.Errorf("eventbridge: BatchSize %d is outside 1..10000", c.BatchSize)
	case c.BatchWindow < 0 || c.BatchWindow > 15*time.Second:
		return c, fmt.Errorf("eventbridge: BatchWindow %s is outside 0..15s", c.BatchWindow)
	case c.Concurrency < 1:
		return c, fmt.Errorf("eventbridge: Concurrency %d is under 1", c.Concurrency)
	case c.RetryStrategy != BackoffRetry && c.RetryStrategy != ExponentialDecayRetry:
		return c, fmt.Errorf("eventbridge: unknown RetryStrategy %d", c.RetryStrategy)
	case c.RetryScale < 0:
		return c, fmt.Errorf("eventbridge: RetryScale %g is negative", c.RetryScale)
	case c.PollInterval < 0:
		return c, fmt.Errorf("eventbridge: PollInterval %s is negative", c.PollInterval)
	}
	c.Logger = discardLogger(c.Logger)
	return c, nil
}

// StreamStats counts what a Stream did.
type StreamStats struct {
	Received      int // messages taken from the queue
	Pushes        int // invocations made, retries included
	Delivered     int // messages whose push succeeded
	Retries       int // pushes that repeated a failed one
	DeadLettered  int // messages handed to DeadLetter and deleted
	Discarded     int // messages deleted unprocessed after the last retry, with no DeadLetter
	Left          int // messages DeadLetter refused, left on the queue
	ReceiveErrors int
	DeleteErrors  int
	// PeakInFlight is the most pushes that were in flight at once.
	PeakInFlight int
}

// Stream is an EventBridge event stream from an MNS queue to a function.
type Stream struct {
	cfg     StreamConfig
	invoker Invoker

	stats    counters[StreamStats]
	inFlight int // guarded by stats' lock
}

// NewStream validates cfg and returns a stream that pushes to invoker once
// Run is called.
func NewStream(invoker Invoker, cfg StreamConfig) (*Stream, error) {
	if invoker == nil {
		return nil, errors.New("eventbridge: NewStream needs an Invoker")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Stream{cfg: cfg, invoker: invoker}, nil
}

// Run reads the queue and pushes batches, up to Concurrency at once, until
// ctx ends, then waits for the pushes in flight and returns nil; or until
// the function is closed (fcruntime.ErrClosed). A batch is read only when a
// push slot is free, so no message waits invisible for a slot. Messages
// received with the queue's visibility timeout (a receive has no visibility
// of its own) and not yet delivered come back when it ends.
func (s *Stream) Run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	slots := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		batch := s.collect(ctx)
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := s.pushAll(ctx, batch); err != nil {
				stop(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); errors.Is(err, fcruntime.ErrClosed) {
		return err
	}
	return nil
}

// pushAll pushes a collected batch: as one array, or one event at a time
// in FC 2.0's shape.
func (s *Stream) pushAll(ctx context.Context, batch []received) error {
	s.count(func(st *StreamStats) {
		s.inFlight++
		st.PeakInFlight = max(st.PeakInFlight, s.inFlight)
	})
	defer s.count(func(*StreamStats) { s.inFlight-- })
	if !s.cfg.SingleEvent {
		return s.push(ctx, batch)
	}
	for _, m := range batch {
		if err := s.push(ctx, []received{m}); err != nil {
			return err
		}
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Stream) Stats() StreamStats { return s.stats.snapshot() }

func (s *Stream) count(update func(*StreamStats)) { s.stats.update(update) }

// received is a message with the CloudEvent it became.
type received struct {
	handle string
	event  []byte
}

// collect waits for a first message, then gathers until the batch is full
// or the window since that message has passed. It returns early (maybe
// with a partial batch) when ctx ends.
func (s *Stream) collect(ctx context.Context) []received {
	var batch []received
	var windowEnd time.Time
	for {
		want := min(s.cfg.BatchSize-len(batch), mns.MaxBatch)
		msgs, err := s.cfg.Queue.Receive(s.cfg.QueueName, want, 0)
		if err != nil {
			s.count(func(st *StreamStats) { st.ReceiveErrors++ })
			s.cfg.Logger.Warn("eventbridge: receive", "queue", s.cfg.QueueName, "err", err)
		}
		if len(msgs) > 0 {
			now := time.Now()
			if len(batch) == 0 {
				windowEnd = now.Add(s.cfg.BatchWindow)
			}
			requestID := mnsRequestID()
			for _, m := range msgs {
				batch = append(batch, received{handle: m.Handle, event: s.cloudEvent(m, requestID, now)})
			}
			s.count(func(st *StreamStats) { st.Received += len(msgs) })
		}
		if len(batch) >= s.cfg.BatchSize || (len(batch) > 0 && !time.Now().Before(windowEnd)) {
			return batch
		}
		if len(msgs) == want {
			continue // more may be waiting
		}
		pause := s.cfg.PollInterval
		if len(batch) > 0 {
			pause = min(pause, time.Until(windowEnd))
		}
		if !sleep(ctx, pause) {
			return batch
		}
	}
}

// push invokes the function with the batch, retrying per the strategy,
// then deletes, dead-letters or discards its messages. Its error is
// fcruntime.ErrClosed, when there is no function left to push to.
func (s *Stream) push(ctx context.Context, batch []received) error {
	payload := batch[0].event
	if !s.cfg.SingleEvent {
		events := make([]json.RawMessage, len(batch))
		for i, r := range batch {
			events[i] = r.event
		}
		payload, _ = json.Marshal(events) // RawMessages of valid JSON always marshal
	}
	for attempt := 0; attempt <= s.cfg.Retries; attempt++ {
		if attempt > 0 {
			s.count(func(st *StreamStats) { st.Retries++ })
			if !sleep(ctx, s.scaled(s.cfg.RetryStrategy.delay(attempt))) {
				return nil
			}
		}
		s.count(func(st *StreamStats) { st.Pushes++ })
		_, err := s.invoker.Invoke(ctx, payload)
		if err == nil {
			s.count(func(st *StreamStats) { st.Delivered += len(batch) })
			s.delete(batch)
			return nil
		}
		if errors.Is(err, fcruntime.ErrClosed) {
			return fmt.Errorf("eventbridge: stream from %s: %w", s.cfg.QueueName, err)
		}
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.Logger.Warn("eventbridge: push failed", "queue", s.cfg.QueueName,
			"events", len(batch), "attempt", attempt+1, "of", s.cfg.Retries+1, "err", err)
	}
	if s.cfg.DeadLetter == nil {
		s.cfg.Logger.Warn("eventbridge: retries exhausted, events discarded", "queue", s.cfg.QueueName,
			"events", len(batch), "strategy", s.cfg.RetryStrategy)
		s.count(func(st *StreamStats) { st.Discarded += len(batch) })
		s.delete(batch)
		return nil
	}
	for _, r := range batch {
		if err := s.cfg.DeadLetter(ctx, r.event); err != nil {
			s.count(func(st *StreamStats) { st.Left++ })
			s.cfg.Logger.Warn("eventbridge: dead letter", "queue", s.cfg.QueueName, "err", err)
			continue
		}
		s.count(func(st *StreamStats) { st.DeadLettered++ })
		s.delete([]received{r})
	}
	return nil
}

func (s *Stream) delete(batch []received) {
	for _, r := range batch {
		if err := s.cfg.Queue.Delete(s.cfg.QueueName, r.handle); err != nil {
			// The handle expired: the message is back on the queue and
			// will be delivered again (at least once).
			s.count(func(st *StreamStats) { st.DeleteErrors++ })
			s.cfg.Logger.Warn("eventbridge: delete", "queue", s.cfg.QueueName, "err", err)
		}
	}
}

// scaled is d under RetryScale.
func (s *Stream) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.RetryScale)
}

// cloudEvent is the CloudEvent EventBridge makes of an MNS message.
func (s *Stream) cloudEvent(m mns.Message, requestID string, published time.Time) []byte {
	body := m.Body
	if !s.cfg.SkipBase64Decode {
		if decoded, err := base64.StdEncoding.DecodeString(body); err == nil {
			body = string(decoded)
		}
	}
	enqueued := m.EnqueueTime
	if enqueued.IsZero() {
		enqueued = published
	}
	bus := "MNS-" + s.cfg.FunctionName + "-" + s.cfg.TriggerName
	event := cloudEvent{
		ID:                      m.ID,
		Source:                  bus,
		SpecVersion:             specVersion,
		Type:                    mnsEventType,
		DataContentType:         dataContentType,
		Subject:                 fmt.Sprintf("acs:mns:%s:%s:queues/%s", s.cfg.Region, s.cfg.AccountID, s.cfg.QueueName),
		Time:                    eventTime(enqueued),
		AliyunAccountID:         s.cfg.AccountID,
		AliyunPublishTime:       eventTime(published),
		AliyunOriginalAccountID: s.cfg.AccountID,
		AliyunEventBusName:      bus,
		AliyunRegionID:          s.cfg.Region,
		AliyunPublishAddr:       publishAddr,
		Data:                    mnsData{RequestID: requestID, MessageID: m.ID, MessageBody: body},
	}
	b, _ := json.Marshal(event) // strings only: always marshals
	return b
}

// cloudEvent has the field order and names of the SDK README's sample.
type cloudEvent struct {
	ID                      string  `json:"id"`
	Source                  string  `json:"source"`
	SpecVersion             string  `json:"specversion"`
	Type                    string  `json:"type"`
	DataContentType         string  `json:"datacontenttype"`
	Subject                 string  `json:"subject"`
	Time                    string  `json:"time"`
	AliyunAccountID         string  `json:"aliyunaccountid"`
	AliyunPublishTime       string  `json:"aliyunpublishtime"`
	AliyunOriginalAccountID string  `json:"aliyunoriginalaccountid"`
	AliyunEventBusName      string  `json:"aliyuneventbusname"`
	AliyunRegionID          string  `json:"aliyunregionid"`
	AliyunPublishAddr       string  `json:"aliyunpublishaddr"`
	Data                    mnsData `json:"data"`
}

type mnsData struct {
	RequestID   string `json:"requestId"`
	MessageID   string `json:"messageId"`
	MessageBody string `json:"messageBody"`
}

// eventTime formats like the samples: UTC, milliseconds, "Z".
func eventTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// mnsRequestID looks like an MNS request id: 24 upper-case hex digits.
func mnsRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return strings.ToUpper(hex.EncodeToString(b))
}

// sleep waits d or until ctx ends; it reports whether the wait was whole.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
