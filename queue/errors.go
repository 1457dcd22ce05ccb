package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	gogaperrors "github.com/gogap/errors"

	"precheckwatch/failure"
)

// service names MNS in the failures this package returns.
const service = "mns"

// Failure is one entry of a batch that failed.
type Failure struct {
	Index int // position in the slice the caller passed
	Err   *failure.Error
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

// Unwrap gives each failure's *failure.Error, so errors.As finds the first.
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
func (e *BatchError) Class() failure.Class {
	worst := failure.Class(0)
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
	class failure.Class
}{
	{&ali_mns.ERR_SEND_REQUEST_FAILED, failure.Transient},
	{&ali_mns.ERR_READ_RESPONSE_BODY_FAILED, failure.Transient},
	{&ali_mns.ERR_UNMARSHAL_ERROR_RESPONSE_FAILED, failure.Transient}, // e.g. an HTML 502 from a proxy
	{&ali_mns.ERR_UNMARSHAL_RESPONSE_FAILED, failure.Transient},
	{&ali_mns.ERR_MNS_INTERNAL_ERROR, failure.Transient},
	{&ali_mns.ERR_MNS_UNKNOWN_CODE, failure.Transient}, // unmapped codes include 5xx ones
	{&ali_mns.ERR_MNS_QPS_LIMIT_EXCEEDED, failure.Throttled},
	{&ali_mns.ERR_MNS_MESSAGE_NOT_EXIST, failure.Gone},
	{&ali_mns.ERR_MNS_RECEIPT_HANDLE_ERROR, failure.Gone},
	{&ali_mns.ERR_MNS_ACCESS_DENIED, failure.Auth},
	{&ali_mns.ERR_MNS_INVALID_ACCESS_KEY_ID, failure.Auth},
	{&ali_mns.ERR_MNS_SIGNATURE_DOES_NOT_MATCH, failure.Auth},
	{&ali_mns.ERR_MNS_INVALID_AUTHORIZATION_HEADER, failure.Auth},
	{&ali_mns.ERR_MNS_MISSING_AUTHORIZATION_HEADER, failure.Auth},
	{&ali_mns.ERR_MNS_TIME_EXPIRED, failure.Auth}, // the clock of this host is off
}

// entryClasses classifies the per-entry codes of batch answers, which are
// plain strings.
var entryClasses = map[string]failure.Class{
	"InternalError":      failure.Transient,
	"QpsLimitExceeded":   failure.Throttled,
	"MessageNotExist":    failure.Gone,
	"ReceiptHandleError": failure.Gone,
}

// serverAnswer finds the service's code and request id in an SDK error:
// the SDK keeps them only in the error text ("... code: QueueNotExist,
// message: ..., request id: 5F3A..., host id: ..."). It is compiled on the
// first error rather than at every cold start.
var serverAnswer = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`status error,code: ([A-Za-z]+),.* request id: ([^\s,]*),`)
})

// classify turns whatever an SDK call returned into a *failure.Error;
// status is the HTTP status of the answer the call got, 0 for none.
func classify(op string, status int, err error) *failure.Error {
	e := &failure.Error{Service: service, Op: op, Class: failure.Permanent, HTTPStatus: status, Err: err}
	if m := serverAnswer().FindStringSubmatch(err.Error()); m != nil {
		e.Code, e.RequestID = m[1], m[2]
	}
	var ec gogaperrors.ErrCode
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.Class = failure.Transient
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

// entryError is one failed entry of a batch answer whose HTTP status is
// status.
func entryError(op string, status int, code, message string) *failure.Error {
	class, ok := entryClasses[code]
	if !ok {
		class = failure.Permanent
	}
	return &failure.Error{Service: service, Op: op, Class: class, Code: code, HTTPStatus: status, Message: strings.TrimSpace(message)}
}

// isMessageNotExist reports whether err is the service's "no message" answer
// to a receive.
func isMessageNotExist(err error) bool {
	var ec gogaperrors.ErrCode
	return errors.As(err, &ec) && ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(ec)
}
