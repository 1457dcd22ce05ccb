package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	gogaperrors "github.com/gogap/errors"
)

// Class says what a caller should do about a failed queue operation.
type Class int

// The classes, from "try again" to "stop and tell the operator".
const (
	// Transient failures may succeed on retry: 5xx and InternalError,
	// transport errors and timeouts, unreadable answers.
	Transient Class = iota + 1
	// Throttled is the service's QpsLimitExceeded: retry after a pause.
	Throttled
	// Gone means a receipt handle no longer controls its message
	// (MessageNotExist or ReceiptHandleError on delete or change
	// visibility): ownership is lost and the message will be delivered
	// again. It is not a failure of the caller.
	Gone
	// Auth failures are credential or signing problems (AccessDenied,
	// InvalidAccessKeyId, SignatureDoesNotMatch, TimeExpired, ...) that only
	// the operator can fix.
	Auth
	// Permanent failures will fail again unchanged: QueueNotExist,
	// InvalidArgument and every other 4xx.
	Permanent
)

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

// Error is a failed queue operation, classified once.
type Error struct {
	Op    string // "receive", "send", "delete", "change visibility"
	Class Class
	// Code is the service's error code when it answered with one
	// ("QueueNotExist", "MessageNotExist", ...), empty otherwise.
	Code string
	err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("mns %s: %s: %v", e.Op, e.Class, e.err)
}

// Unwrap gives the SDK's error (a gogap ErrCode) or the context's.
func (e *Error) Unwrap() error { return e.err }

// ClassOf returns the class of err: an *Error's, a *BatchError's, or 0 for
// nil and errors that did not come from this package.
func ClassOf(err error) Class {
	var be *BatchError
	if errors.As(err, &be) {
		return be.Class()
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

// Failure is one entry of a batch that failed.
type Failure struct {
	Index int // position in the slice the caller passed
	Err   *Error
}

// BatchError reports the entries of a batch operation that failed; the
// others succeeded.
type BatchError struct {
	Op       string
	Failures []Failure
}

func (e *BatchError) Error() string {
	first := e.Failures[0].Err
	return fmt.Sprintf("mns %s: %d entries failed, first (entry %d): %v", e.Op, len(e.Failures), e.Failures[0].Index, first)
}

// Unwrap gives each failure's *Error, so errors.As finds the first.
func (e *BatchError) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Err
	}
	return out
}

// Class is the most serious class among the failures, in the order
// Permanent, Auth, Gone, Throttled, Transient: a batch is as retryable as
// its least retryable entry.
func (e *BatchError) Class() Class {
	worst := Class(0)
	for _, f := range e.Failures {
		worst = max(worst, f.Err.Class)
	}
	return worst
}

// sdkClasses maps the SDK's error templates to classes, compared with
// IsEqual on the unwrapped gogap ErrCode (IsEqual is a plain type
// assertion, reference §1.4). Codes not listed are Permanent.
var sdkClasses = []struct {
	tmpl  *gogaperrors.ErrCodeTemplate
	class Class
}{
	{&ali_mns.ERR_SEND_REQUEST_FAILED, Transient},
	{&ali_mns.ERR_READ_RESPONSE_BODY_FAILED, Transient},
	{&ali_mns.ERR_UNMARSHAL_ERROR_RESPONSE_FAILED, Transient}, // e.g. an HTML 502 from a proxy
	{&ali_mns.ERR_UNMARSHAL_RESPONSE_FAILED, Transient},
	{&ali_mns.ERR_MNS_INTERNAL_ERROR, Transient},
	{&ali_mns.ERR_MNS_UNKNOWN_CODE, Transient}, // unmapped codes include 5xx ones
	{&ali_mns.ERR_MNS_QPS_LIMIT_EXCEEDED, Throttled},
	{&ali_mns.ERR_MNS_MESSAGE_NOT_EXIST, Gone},
	{&ali_mns.ERR_MNS_RECEIPT_HANDLE_ERROR, Gone},
	{&ali_mns.ERR_MNS_ACCESS_DENIED, Auth},
	{&ali_mns.ERR_MNS_INVALID_ACCESS_KEY_ID, Auth},
	{&ali_mns.ERR_MNS_SIGNATURE_DOES_NOT_MATCH, Auth},
	{&ali_mns.ERR_MNS_INVALID_AUTHORIZATION_HEADER, Auth},
	{&ali_mns.ERR_MNS_MISSING_AUTHORIZATION_HEADER, Auth},
	{&ali_mns.ERR_MNS_TIME_EXPIRED, Auth}, // the clock of this host is off
}

// entryClasses classifies the per-entry codes of batch answers, which are
// plain strings.
var entryClasses = map[string]Class{
	"InternalError":      Transient,
	"QpsLimitExceeded":   Throttled,
	"MessageNotExist":    Gone,
	"ReceiptHandleError": Gone,
}

// serverCode finds the service's code in an SDK error: the SDK keeps it
// only in the error text ("... code: QueueNotExist, message: ...").
var serverCode = regexp.MustCompile(`status error,code: ([A-Za-z]+),`)

// classify turns whatever an SDK call returned into an *Error.
func classify(op string, err error) *Error {
	e := &Error{Op: op, Class: Permanent, err: err}
	if m := serverCode.FindStringSubmatch(err.Error()); m != nil {
		e.Code = m[1]
	}
	var ec gogaperrors.ErrCode
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.Class = Transient
	case errors.As(err, &ec):
		for _, c := range sdkClasses {
			if c.tmpl.IsEqual(ec) {
				e.Class = c.class
				break
			}
		}
	}
	return e
}

// entryError is one failed entry of a batch answer.
func entryError(op, code, message string) *Error {
	class, ok := entryClasses[code]
	if !ok {
		class = Permanent
	}
	return &Error{Op: op, Class: class, Code: code, err: errors.New(strings.TrimSpace(code + ": " + message))}
}

// isMessageNotExist reports whether err is the service's "no message" answer
// to a receive.
func isMessageNotExist(err error) bool {
	var ec gogaperrors.ErrCode
	return errors.As(err, &ec) && ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(ec)
}
