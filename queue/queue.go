// Package queue is precheckwatch's MNS queue adapter on
// github.com/aliyun/aliyun-mns-go-sdk v1.0.11: batch receive with long
// polling, batch send with delays, batch delete and change visibility, each
// bounded by a context and each failure classified once (see Class).
//
// The SDK takes no context, panics on odd endpoints, reports results through
// channels and shares an unsynchronised QPS monitor per queue object. The
// adapter therefore gives every call an SDK client of its own (reused from
// an idle pool, set up with the call's keys and deadline; all share one
// connection pool) and a fresh SDK queue object (so no QPS monitor is ever
// shared), runs the call in a goroutine whose connections carry the call's
// deadline, and recovers any panic into an error.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"

	"precheckwatch/failure"
	"precheckwatch/secret"
)

// Service limits (reference §3).
const (
	MaxBatch             = 16
	MaxBatchBytes        = 65536 // per message and per batch send
	MaxDelay             = 604800 * time.Second
	MaxVisibilityTimeout = 43200 * time.Second
	MaxWait              = 30 * time.Second
	// priority is what every message is sent with: the service default. The
	// SDK would send an unset Priority as 0, which the service refuses.
	priority = 8
)

// DefaultTimeout bounds a request beyond any long-poll wait.
const DefaultTimeout = 10 * time.Second

// Config says where a queue is and how to reach it.
type Config struct {
	// Endpoint is any http(s) URL: the MNS endpoint
	// (http://<account>.mns.<region>-internal.aliyuncs.com) or a loopback
	// emulator (http://127.0.0.1:9100). A path is kept as a prefix.
	Endpoint string
	// Name is the queue name.
	Name string
	// Credentials sign every request; STS keys carry their token. Use
	// WithCredentials when they change (FC hands new keys per invocation).
	Credentials secret.Credentials
	// Timeout bounds each request beyond its long-poll wait; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxConns caps connections to the endpoint; 0 means 512, the SDK's.
	MaxConns int
}

// Queue is one MNS queue. It is safe for concurrent use.
type Queue struct {
	name    string
	creds   secret.Credentials
	timeout time.Duration
	ep      *endpoint
}

// Message is a received message. Handle is the receipt handle that deletes
// it or changes its visibility until NextVisibleTime.
type Message struct {
	ID               string
	Handle           string
	Body             string
	DequeueCount     int
	Priority         int
	EnqueueTime      time.Time
	FirstDequeueTime time.Time
	NextVisibleTime  time.Time
}

// Outgoing is a message to send, visible after Delay (clamped to 0..7 days,
// rounded up to whole seconds).
type Outgoing struct {
	Body  string
	Delay time.Duration
}

// maxNameLen is the longest queue name MNS accepts.
const maxNameLen = 256

// checkName applies MNS's queue-name rule. It is a loop, not a regexp: a
// package-level regexp with a bounded repeat costs about a millisecond of
// every cold start.
func checkName(name string) error {
	ok := name != "" && len(name) <= maxNameLen && name[0] != '-'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	if !ok {
		return fmt.Errorf("queue name %q: want 1-256 letters, digits or '-', starting with a letter or digit", name)
	}
	return nil
}

// Open checks cfg and returns its queue. It sends nothing.
func Open(cfg Config) (*Queue, error) {
	if err := checkName(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.MaxConns < 0 {
		return nil, errors.New("queue timeout and max connections must not be negative")
	}
	maxConns := cfg.MaxConns
	if maxConns == 0 {
		maxConns = 512
	}
	ep, err := parseEndpoint(cfg.Endpoint, maxConns)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Queue{name: cfg.Name, creds: cfg.Credentials, timeout: timeout, ep: ep}, nil
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// WithCredentials returns the queue signing with c; both share connections.
func (q *Queue) WithCredentials(c secret.Credentials) *Queue {
	out := *q
	out.creds = c
	return &out
}

// call runs fn on a fresh SDK queue object, bounded by ctx and by
// q.timeout+wait. When ctx ends first it returns at once; the goroutine
// still running fn ends by the same deadline, which its connection carries
// (an explicit cancel without a deadline leaves it running until
// q.timeout+wait).
func (q *Queue) call(ctx context.Context, op string, wait time.Duration, fn func(ali_mns.AliMNSQueue) error) error {
	if err := ctx.Err(); err != nil {
		return classify(op, 0, err)
	}
	if !q.creds.Complete() {
		return &failure.Error{Service: service, Op: op, Class: failure.Auth, Message: "no AccessKey id and secret"}
	}
	deadline := time.Now().Add(q.timeout + wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// outcome is what fn returned and the HTTP status of the answer it got.
	type outcome struct {
		err    error
		status int
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- outcome{err: fmt.Errorf("aliyun-mns-go-sdk panicked: %v", v)}
			}
		}()
		c := q.ep.acquire(q.creds, deadline)
		err := fn(ali_mns.NewMNSQueue(q.name, c.client))
		status := c.transport.status
		// Only a call that returned gives its client back: a panicking one
		// may have left it in any state.
		q.ep.release(c)
		done <- outcome{err, status}
	}()
	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		// A call that finished as ctx ended still counts: dropping a
		// successful receive would hide its messages for nothing.
		select {
		case out = <-done:
		default:
			out = outcome{err: ctx.Err()}
		}
	}
	if out.err != nil {
		return classify(op, out.status, out.err)
	}
	return nil
}

// Receive takes up to limit messages (clamped to 1..16), waiting up to wait
// (clamped to 0..30 s, whole seconds, and shortened to end a second before
// ctx's deadline) for the first to arrive. An empty queue is an empty slice.
// A wait under one second sends no waitseconds, so the queue's own
// PollingWaitSeconds applies (0 unless configured otherwise).
func (q *Queue) Receive(ctx context.Context, limit int, wait time.Duration) ([]Message, error) {
	n := int32(min(MaxBatch, max(1, limit)))
	wait = min(wait, MaxWait)
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d)-time.Second)
	}
	waitSeconds := max(int64(wait/time.Second), 0)

	var got ali_mns.BatchMessageReceiveResponse
	err := q.call(ctx, "receive", time.Duration(waitSeconds)*time.Second, func(sq ali_mns.AliMNSQueue) error {
		// The SDK answers through channels after a synchronous request:
		// buffered channels so it never blocks, exactly one positive
		// waitseconds (0 would send nothing and answer nothing), and every
		// error it sent is drained.
		resp := make(chan ali_mns.BatchMessageReceiveResponse, 1)
		errs := make(chan error, 2)
		if waitSeconds > 0 {
			sq.BatchReceiveMessage(resp, errs, n, waitSeconds)
		} else {
			sq.BatchReceiveMessage(resp, errs, n)
		}
		close(errs)
		select {
		case got = <-resp:
			return nil
		default:
		}
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		if len(all) == 0 {
			return errors.New("aliyun-mns-go-sdk answered neither messages nor an error")
		}
		if len(all) == 1 {
			return all[0]
		}
		return errors.Join(all...)
	})
	if err != nil {
		if isMessageNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]Message, len(got.Messages))
	for i, m := range got.Messages {
		out[i] = Message{
			ID: m.MessageId, Handle: m.ReceiptHandle, Body: m.MessageBody,
			DequeueCount: int(m.DequeueCount), Priority: int(m.Priority),
			EnqueueTime: fromMillis(m.EnqueueTime), FirstDequeueTime: fromMillis(m.FirstDequeueTime),
			NextVisibleTime: fromMillis(m.NextVisibleTime),
		}
	}
	return out, nil
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// seconds rounds d up to whole seconds within [lo, hi].
func seconds(d, lo, hi time.Duration) int64 {
	d = min(max(d, lo), hi)
	return int64((d + time.Second - 1) / time.Second)
}

// Send sends msgs with priority 8, in batches of at most 16 messages and
// 64 KB of bodies. Failed entries come back in a *BatchError, indexed into
// msgs; the others were sent. A body over 64 KB fails as Permanent without
// a request.
func (q *Queue) Send(ctx context.Context, msgs []Outgoing) error {
	var failures []Failure
	var batch []int // indexes into msgs
	bytes := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		failures = append(failures, q.sendBatch(ctx, msgs, batch)...)
		batch, bytes = nil, 0
	}
	for i, m := range msgs {
		if len(m.Body) > MaxBatchBytes {
			failures = append(failures, Failure{Index: i, Err: &failure.Error{Service: service, Op: "send", Class: failure.Permanent, Code: "InvalidArgument",
				Message: fmt.Sprintf("body is %d bytes, over the %d-byte limit", len(m.Body), MaxBatchBytes)}})
			continue
		}
		if len(batch) == MaxBatch || bytes+len(m.Body) > MaxBatchBytes {
			flush()
		}
		batch = append(batch, i)
		bytes += len(m.Body)
	}
	flush()
	if len(failures) > 0 {
		return &BatchError{Op: "send", Failures: failures}
	}
	return nil
}

func (q *Queue) sendBatch(ctx context.Context, msgs []Outgoing, batch []int) []Failure {
	reqs := make([]ali_mns.MessageSendRequest, len(batch))
	for j, i := range batch {
		reqs[j] = ali_mns.MessageSendRequest{
			MessageBody:  msgs[i].Body,
			DelaySeconds: seconds(msgs[i].Delay, 0, MaxDelay),
			Priority:     priority,
		}
	}
	var resp ali_mns.BatchMessageSendResponse
	err := q.call(ctx, "send", 0, func(sq ali_mns.AliMNSQueue) error {
		var err error
		resp, err = sq.BatchSendMessage(reqs...)
		return err
	})
	if err == nil {
		return nil
	}
	e := failure.As(err)
	var failures []Failure
	if isBatchFail(e) && len(resp.Messages) == len(batch) {
		for j, entry := range resp.Messages {
			if entry.ErrorCode != "" {
				failures = append(failures, Failure{Index: batch[j], Err: entryError("send", e.HTTPStatus, entry.ErrorCode, entry.ErrorMessage)})
			}
		}
		return failures
	}
	for _, i := range batch {
		failures = append(failures, Failure{Index: i, Err: e})
	}
	return failures
}

// isBatchFail reports whether the SDK answered "some entries failed, see
// the response" (ERR_MNS_BATCH_OP_FAIL).
func isBatchFail(e *failure.Error) bool {
	return ali_mns.ERR_MNS_BATCH_OP_FAIL.IsEqual(errors.Unwrap(e))
}

// Delete deletes the messages the handles control, in batches of 16.
// Handles that no longer control their message (MessageNotExist,
// ReceiptHandleError: the visibility timeout passed or a newer handle
// exists) come back in lost: those messages will be delivered again, which
// is not an error. err is a *BatchError, indexed into handles, for handles
// that could not be deleted for any other reason.
func (q *Queue) Delete(ctx context.Context, handles ...string) (lost []string, err error) {
	var failures []Failure
	for start := 0; start < len(handles); start += MaxBatch {
		chunk := handles[start:min(start+MaxBatch, len(handles))]
		for _, f := range q.deleteBatch(ctx, chunk) {
			f.Index += start
			if f.Err.Class == failure.Gone {
				lost = append(lost, handles[f.Index])
				continue
			}
			failures = append(failures, f)
		}
	}
	if len(failures) > 0 {
		return lost, &BatchError{Op: "delete", Failures: failures}
	}
	return lost, nil
}

func (q *Queue) deleteBatch(ctx context.Context, chunk []string) []Failure {
	var resp ali_mns.BatchMessageDeleteErrorResponse
	err := q.call(ctx, "delete", 0, func(sq ali_mns.AliMNSQueue) error {
		var err error
		resp, err = sq.BatchDeleteMessage(chunk...)
		return err
	})
	if err == nil {
		return nil
	}
	e := failure.As(err)
	var failures []Failure
	if isBatchFail(e) {
		// Entries name their handle; a handle listed twice fails twice.
		for _, entry := range resp.FailedMessages {
			for j, h := range chunk {
				if h == entry.ReceiptHandle {
					failures = append(failures, Failure{Index: j, Err: entryError("delete", e.HTTPStatus, entry.ErrorCode, entry.ErrorMessage)})
				}
			}
		}
		if len(failures) > 0 {
			return failures
		}
	}
	for j := range chunk {
		failures = append(failures, Failure{Index: j, Err: e})
	}
	return failures
}

// ChangeVisibility hides the message handle controls for d from now
// (clamped to 1 s..12 h, rounded up to whole seconds) and returns the new
// handle; the old one stops working. A Gone error means the handle had
// already lost the message.
func (q *Queue) ChangeVisibility(ctx context.Context, handle string, d time.Duration) (string, error) {
	var resp ali_mns.MessageVisibilityChangeResponse
	err := q.call(ctx, "change visibility", 0, func(sq ali_mns.AliMNSQueue) error {
		var err error
		resp, err = sq.ChangeMessageVisibility(handle, seconds(d, time.Second, MaxVisibilityTimeout))
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.ReceiptHandle, nil
}
