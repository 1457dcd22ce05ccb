package handler

import (
	"context"
	"fmt"
	"time"

	"precheckwatch/failure"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// Invocation is what the platform says about one invocation.
type Invocation struct {
	RequestID   string
	Credentials secret.Credentials
	Region      string
	AccountID   string
}

// Checker asks Security Center how a precheck task is doing. Its errors,
// like the queues', are *failure.Error, classified where the call was made.
type Checker interface {
	Query(ctx context.Context, inv Invocation, t precheck.Task) (precheck.Status, error)
}

// Message is one message received from a queue.
type Message struct {
	ID     string
	Handle string // receipt handle: proof of ownership until it expires
	Body   []byte
	// VisibleAt is when the queue shows the message to others again unless
	// its visibility is changed; zero when the queue did not say.
	VisibleAt time.Time
	// DequeueCount is how often the queue has handed the message out, this
	// time included; 0 when it did not say.
	DequeueCount int
}

// Outgoing is one message to send, visible after Delay.
type Outgoing struct {
	Body  []byte
	Delay time.Duration
}

// Queue is one MNS queue, opened with an invocation's credentials.
type Queue interface {
	// Receive takes up to max visible messages without waiting; an empty
	// queue is no messages and no error.
	Receive(ctx context.Context, max int) ([]Message, error)
	// Send sends msgs and returns one error per message (nil when sent).
	Send(ctx context.Context, msgs []Outgoing) []error
	// Delete deletes the messages with handles; one error per handle.
	Delete(ctx context.Context, handles []string) []error
	// ChangeVisibility hides the message for d from now and returns its
	// new handle; the old one stops working.
	ChangeVisibility(ctx context.Context, handle string, d time.Duration) (string, error)
}

// Queues opens queues for an invocation.
type Queues interface {
	Open(ctx context.Context, inv Invocation, name string) (Queue, error)
}

// classOf returns err's class and the service's code, if any. An error
// no adapter classified counts as Transient, so no task is dropped over a
// surprise.
func classOf(err error) (failure.Class, string) {
	if e := failure.As(err); e != nil {
		return e.Class, e.Code
	}
	return failure.ClassOf(err), ""
}

// cause names a failure for the operator: service and code.
func cause(service string, err error) string {
	_, code := classOf(err)
	if code == "" {
		code = "error"
	}
	return fmt.Sprintf("%s %s", service, code)
}
