package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Checker asks Security Center how a precheck task is doing.
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

// Class is how the function reacts to a failed call to a cloud service.
type Class int

// Classes of failure. Adapters wrap their errors in *ClassError; anything
// unclassified counts as Transient, so no task is dropped over a surprise.
const (
	Transient Class = iota // 5xx, network, timeouts: retry, then requeue
	Throttled              // the service asks us to slow down
	Auth                   // credentials or permissions: alert the operator once, keep tasks queued
	Permanent              // a request the service will never accept
	Gone                   // a receipt handle lost its message: it will come back by itself
)

// String names the class for logs and reports.
func (c Class) String() string {
	switch c {
	case Throttled:
		return "throttled"
	case Auth:
		return "auth"
	case Permanent:
		return "permanent"
	case Gone:
		return "gone"
	default:
		return "transient"
	}
}

// ClassError is an adapter error with its class.
type ClassError struct {
	Class Class
	// Code is the service's error code, e.g. Throttling.User.
	Code string
	// RetryAfter is the service's own hint, 0 when it gave none.
	RetryAfter time.Duration
	Err        error
}

func (e *ClassError) Error() string { return e.Err.Error() }
func (e *ClassError) Unwrap() error { return e.Err }

// Classify wraps err with class and code.
func Classify(class Class, code string, err error) error {
	if err == nil {
		return nil
	}
	return &ClassError{Class: class, Code: code, Err: err}
}

// classOf returns err's class and code.
func classOf(err error) (Class, string) {
	var ce *ClassError
	if errors.As(err, &ce) {
		return ce.Class, ce.Code
	}
	return Transient, ""
}

// cause names a failure for the operator: service and code.
func cause(service string, err error) string {
	_, code := classOf(err)
	if code == "" {
		code = "error"
	}
	return fmt.Sprintf("%s %s", service, code)
}
