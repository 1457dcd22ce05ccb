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

// The error answers, with the texts of the service's error-code table
// (https://www.alibabacloud.com/help/doc-detail/27501.html, typos included)
// where it has one.
var (
	errMessageNotExist    = newError(http.StatusNotFound, "MessageNotExist", "Message not exist.")
	errQueueNotExist      = newError(http.StatusNotFound, "QueueNotExist", "The queue name you provided is not exist.")
	errReceiptHandle      = newError(http.StatusBadRequest, "ReceiptHandleError", "The receipt handle you provide is not valid.")
	errQueueAlreadyExist  = newError(http.StatusConflict, "QueueAlreadyExist", "The queue you want to create is already exist.")
	errMessageTooLong     = invalidArgument("The length of message should not be larger than MaximumMessageSize.")
	errMessageEmpty       = invalidArgument("The length of message should not be empty.")
	errPriorityRange      = invalidArgument("The value of Priority should between 1 and 16")
	errDelayRange         = invalidArgument("The value of DelaySeconds should between 0 and 604800 seconds.")
	errVisibilityRange    = invalidArgument("The value of VisibilityTimeout should between 1 and 43200 seconds.")
	errNumOfMessagesRange = invalidArgument("The value of numOfMessages should between 1 and 16")
	errWaitSecondsRange   = invalidArgument("The value of waitseconds should between 0 and 30 seconds.")
	errBatchTooLarge      = invalidArgument("The total length of messages in a batch should not be larger than 65536.")
	errBatchCount         = invalidArgument("The count of messages in a batch request should between 1 and 16")
	errMalformedXML       = newError(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed.")
	errInvalidRequestURL  = newError(http.StatusBadRequest, "InvalidRequestURL", "Http request URL format invalid.")
	errInvalidQueueName   = newError(http.StatusBadRequest, "InvalidQueueName", "The queue name you provided is invalid. QueueName should start with alpha and contain only alpha, digit or - .")
	errQueueNameLength    = newError(http.StatusBadRequest, "QueueNameLengthError", "Queue name length should between 1 and 256.")
	errMissingHandle      = newError(http.StatusBadRequest, "MissingReceiptHandle", "ReceiptHandle is required.")
	errMissingVisibility  = newError(http.StatusBadRequest, "MissingVisibilityTimeout", "VisibilityTimeout is required.")
	errThrottled          = newError(http.StatusBadRequest, "QpsLimitExceeded", "The qps limit of the queue is exceeded.")
	errInternal           = newError(http.StatusInternalServerError, "InternalError", "Interal error.")

	errMissingAuthorization = newError(http.StatusBadRequest, "MissingAuthorizationHeader", "Authorization header is required.")
	errInvalidAuthorization = newError(http.StatusBadRequest, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
	errMissingDate          = newError(http.StatusBadRequest, "MissingDateHeader", "Date header is required.")
	errInvalidDate          = newError(http.StatusBadRequest, "InvalidDateHeader", "The Date header format is invalid.")
	errMissingVersion       = newError(http.StatusBadRequest, "MissingVersionHeader", "The x-mns-version header is missing.")
	errInvalidVersion       = newError(http.StatusBadRequest, "InvalidVersionHeader", "The x-mns-version header you provided is invalid.")
	errInvalidDigest        = newError(http.StatusBadRequest, "InvalidDegist", "The Content-MD5 you specified is invalid.")
	errTimeExpired          = newError(http.StatusRequestTimeout, "TimeExpired", "The http request you sent is expired.")
	errInvalidAccessKeyID   = newError(http.StatusForbidden, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")
	errSignatureMismatch    = newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errSecurityToken        = newError(http.StatusForbidden, "AccessDenied", "The OwnerId that your Access Key Id associated to is forbidden for this operation.")
)
