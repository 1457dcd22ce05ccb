package mns

import (
	"fmt"
	"net/http"
)

// Error is an MNS error answer: the HTTP status and the <Code>/<Message>
// pair of the XML error body. The in-process methods return the same values
// the HTTP interface would send, so tests see one set of rules.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mns: %d %s: %s", e.Status, e.Code, e.Message)
}

func newError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

func invalidArgument(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "InvalidArgument", fmt.Sprintf(format, args...))
}

// The error answers whose text is fixed by the service (reference §2.4).
var (
	errMessageNotExist    = newError(http.StatusNotFound, "MessageNotExist", "Message not exist.")
	errQueueNotExist      = newError(http.StatusNotFound, "QueueNotExist", "The queue name you provided is not exist.")
	errReceiptHandle      = newError(http.StatusBadRequest, "ReceiptHandleError", "The receipt handle you provide is not valid.")
	errQueueAlreadyExist  = newError(http.StatusConflict, "QueueAlreadyExist", "The queue you want to create is already exist.")
	errMessageTooLong     = invalidArgument("The length of message should not be larger than MaximumMessageSize.")
	errMessageEmpty       = invalidArgument("The length of message should not be empty.")
	errPriorityRange      = invalidArgument("The value of Priority should between 1 and 16")
	errDelayRange         = invalidArgument("The value of DelaySeconds should between 0 and 604800")
	errVisibilityRange    = invalidArgument("The value of VisibilityTimeout should between 1 and 43200")
	errNumOfMessagesRange = invalidArgument("The value of numOfMessages should between 1 and 16")
	errWaitSecondsRange   = invalidArgument("The value of waitseconds should between 0 and 30")
	errBatchTooLarge      = invalidArgument("The total length of messages in a batch should not be larger than 65536.")
	errBatchCount         = invalidArgument("The count of messages in a batch request should between 1 and 16")
	errMalformedXML       = newError(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed.")
	errInvalidRequestURL  = newError(http.StatusBadRequest, "InvalidRequestURL", "The request url you provided is invalid.")
	errInvalidQueueName   = newError(http.StatusBadRequest, "InvalidQueueName", "The queue name you provided is invalid. QueueName should start with alpha or digit and contain only alpha, digit or -.")
	errQueueNameLength    = newError(http.StatusBadRequest, "QueueNameLengthError", "The length of queue name should between 1 and 120.")
	errMissingHandle      = newError(http.StatusBadRequest, "MissingReceiptHandle", "The receipt handle is missing.")
	errMissingVisibility  = newError(http.StatusBadRequest, "MissingVisibilityTimeout", "The VisibilityTimeout is missing.")
	errThrottled          = newError(http.StatusBadRequest, "QpsLimitExceeded", "The QPS of your requests exceeds the limit.")
	errInternal           = newError(http.StatusInternalServerError, "InternalError", "The service encountered an internal error. Please try again later.")

	errMissingAuthorization = newError(http.StatusBadRequest, "MissingAuthorizationHeader", "The Authorization header is missing.")
	errInvalidAuthorization = newError(http.StatusBadRequest, "InvalidAuthorizationHeader", "The Authorization header you provided is invalid.")
	errMissingDate          = newError(http.StatusBadRequest, "MissingDateHeader", "The Date header is missing.")
	errInvalidDate          = newError(http.StatusBadRequest, "InvalidDateHeader", "The Date header you provided is invalid.")
	errMissingVersion       = newError(http.StatusBadRequest, "MissingVersionHeader", "The x-mns-version header is missing.")
	errInvalidVersion       = newError(http.StatusBadRequest, "InvalidVersionHeader", "The x-mns-version header you provided is invalid.")
	errInvalidDigest        = newError(http.StatusBadRequest, "InvalidDegist", "The Content-MD5 you specified is not valid.")
	errTimeExpired          = newError(http.StatusRequestTimeout, "TimeExpired", "The http request you sent is expired.")
	errInvalidAccessKeyID   = newError(http.StatusForbidden, "InvalidAccessKeyId", "The access Id you provided does not exist in our records.")
	errSignatureMismatch    = newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	errSecurityToken        = newError(http.StatusForbidden, "AccessDenied", "The security token you provided is missing or invalid.")
)
