// Package failure is how a failed call to a cloud service or a chat
// channel is told to its caller. The adapter that made the call classifies
// it once, at the edge, into an *Error whose fields say what the caller
// needs to react (the class, the service's code and HTTP status, its retry
// hint); callers branch on those fields, never on an error's text.
package failure

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class says how a caller should react to a failed call. The classes are
// ordered from "try again" to "stop and tell the operator", so the worst of
// several failures is the greatest.
type Class int

// The classes of failure. The zero Class is none of them.
const (
	// Transient failures may succeed on retry: 5xx, network errors,
	// timeouts, unreadable answers.
	Transient Class = iota + 1
	// Throttled: the service asks us to slow down; retry after a pause
	// (Error.RetryAfter when it said how long).
	Throttled
	// Gone: what the call acted on is no longer the caller's to act on (a
	// receipt handle lost its message, which the queue delivers again). It
	// is not a failure of the caller.
	Gone
	// Auth: the keys, token, signature, clock or permissions are wrong.
	// Every call fails alike until an operator acts.
	Auth
	// Permanent: the service will never accept this request as it is.
	Permanent
)

// String names the class for logs and reports.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Throttled:
		return "throttled"
	case Gone:
		return "gone"
	case Auth:
		return "auth"
	case Permanent:
		return "permanent"
	}
	return "unclassified"
}

// Retryable reports whether retrying later can succeed.
func (c Class) Retryable() bool { return c == Transient || c == Throttled }

// Error is a failed call, classified by the adapter that made it. Its text
// carries no token, secret, signature or credential-bearing URL: adapters
// clean what they put in.
type Error struct {
	// Service is the adapter's service or channel: "sas", "mns", "slack",
	// "dingtalk", "feishu".
	Service string
	// Op is the operation, e.g. "QueryPreCheckDatabase", "send".
	Op    string
	Class Class
	// Code is the service's own error code (Throttling.User,
	// QueueNotExist, ratelimited, 130101); "" when it gave none.
	Code string
	// HTTPStatus is the answer's status; 0 when no answer arrived.
	HTTPStatus int
	// RetryAfter is the service's own hint of how long to wait before
	// retrying; 0 when it gave none.
	RetryAfter time.Duration
	// RequestID is the service's id for the request, for its support.
	RequestID string
	// Message is what went wrong, for people, cleaned of secrets.
	Message string
	// Err is the network, context or SDK error beneath, if any, holding no
	// secret; errors.Is(err, context.DeadlineExceeded) reaches it.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Service, e.Op, e.Class)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.HTTPStatus)
		if e.RequestID != "" {
			fmt.Fprintf(&b, ", RequestId %s", e.RequestID)
		}
		b.WriteString(")")
	}
	switch {
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap gives the error beneath.
func (e *Error) Unwrap() error { return e.Err }

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ClassOf returns the class of err: its *Error's, Transient for any other
// error (an unexpected failure must not drop work), 0 for nil.
func ClassOf(err error) Class {
	if err == nil {
		return 0
	}
	if e := As(err); e != nil {
		return e.Class
	}
	return Transient
}

// Backoff is the pause before the attempt after attempt (1 for the first)
// failed with err: the service's RetryAfter when it gave one, else 250 ms
// doubling per attempt.
func Backoff(err error, attempt int) time.Duration {
	if fe := As(err); fe != nil && fe.RetryAfter > 0 {
		return fe.RetryAfter
	}
	return 250 * time.Millisecond << (attempt - 1)
}
