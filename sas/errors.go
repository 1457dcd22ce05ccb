package sas

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	sdkerr "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"precheckwatch/secret"
)

// Class says how a caller should react to a failed call.
type Class string

// The classes of failure.
const (
	// Transient: 5xx, network errors, timeouts, a reused nonce. Retry later.
	Transient Class = "transient"
	// Throttled: Throttling*. Slow down, then retry.
	Throttled Class = "throttled"
	// Auth: the keys, token, signature, clock or RAM permissions are wrong.
	// Every call fails alike until an operator acts; keep the work queued.
	Auth Class = "auth"
	// Permanent: the service will never accept this request as it is.
	Permanent Class = "permanent"
)

// Error is a failed Security Center call, classified once here. Its text
// carries no access key secret, security token or signature.
type Error struct {
	Op         string // the action, e.g. QueryPreCheckDatabase
	Class      Class
	Code       string // the service's error code; "" for network and client-side errors
	HTTPStatus int    // 0 when no answer arrived
	RequestID  string
	Message    string // the service's message, cleaned and shortened
	Err        error  // the underlying network or context error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sas %s: %s", e.Op, e.Class)
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
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Unwrap gives the network or context error beneath, so errors.Is(err,
// context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err: its *Error's, Transient for any other
// error (an unexpected failure must not drop work), "" for nil.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Transient
}

// classify maps a service answer to a class. The code decides; the status
// only when the code is unknown or missing.
func classify(code string, status int, message string) Class {
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return Throttled
	case code == "ServiceUnavailable", code == "InternalError", code == "ServerError",
		code == "SignatureNonceUsed": // a fresh nonce on the next attempt succeeds
		return Transient
	case isAuthCode(code), code == "InvalidParameter" && strings.Contains(message, "SecurityToken"):
		return Auth
	case status >= 500:
		return Transient
	case code == "" && status == 429:
		return Throttled
	case code == "" && (status == 401 || status == 403):
		return Auth
	default:
		return Permanent
	}
}

// isAuthCode reports codes that mean the caller's identity or setup is
// wrong rather than the request. A skewed clock (InvalidTimeStamp*) counts:
// like a bad key, it fails every call until fixed.
func isAuthCode(code string) bool {
	for _, prefix := range []string{
		"InvalidAccessKeyId", "InvalidAccessKeySecret", "SignatureDoesNotMatch", "IncompleteSignature",
		"NoPermission", "Forbidden", "InvalidSecurityToken", "SecurityToken", "MissingSecurityToken",
		"InvalidTimeStamp",
	} {
		if strings.HasPrefix(code, prefix) {
			return true
		}
	}
	return false
}

// maxMessage bounds the service message kept in an Error.
const maxMessage = 300

// cleanMessage drops the echoed string to sign (it holds the security
// token), masks any secret the text still holds, and shortens it.
func cleanMessage(msg string, creds secret.Credentials) string {
	if i := strings.Index(msg, sdkerr.MessageContain); i >= 0 {
		msg = msg[:i]
	}
	msg = redact(msg, creds)
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	return msg
}

// redact masks the secret and the token in text, plain or URL-encoded
// (once, as in a query; twice, as in a string to sign).
func redact(text string, creds secret.Credentials) string {
	for _, s := range []string{creds.AccessKeySecret.Reveal(), creds.SecurityToken.Reveal()} {
		if s == "" {
			continue
		}
		once := url.QueryEscape(s)
		for _, form := range []string{url.QueryEscape(once), once, s} {
			text = strings.ReplaceAll(text, form, secret.Mask)
		}
	}
	return text
}

// fromContext is the error of a call its context ended.
func fromContext(op string, err error) *Error {
	return &Error{Op: op, Class: Transient, Message: err.Error(), Err: err}
}

// fromSDK classifies an error of ProcessCommonRequest.
func fromSDK(op string, err error, creds secret.Credentials) *Error {
	var server *sdkerr.ServerError
	var client *sdkerr.ClientError
	var urlErr *url.Error
	switch {
	case errors.As(err, &server):
		return &Error{
			Op:         op,
			Class:      classify(server.ErrorCode(), server.HttpStatus(), server.Message()),
			Code:       server.ErrorCode(),
			HTTPStatus: server.HttpStatus(),
			RequestID:  server.RequestId(),
			Message:    cleanMessage(server.Message(), creds),
		}
	case errors.As(err, &client):
		class := Permanent
		if client.ErrorCode() == sdkerr.TimeoutErrorCode {
			class = Transient
		}
		return &Error{Op: op, Class: class, Code: client.ErrorCode(), Message: cleanMessage(client.Message(), creds)}
	case errors.As(err, &urlErr):
		// url.Error's own text holds the signed URL: keep only what lies beneath.
		return &Error{Op: op, Class: Transient, Message: cleanMessage(urlErr.Err.Error(), creds), Err: urlErr.Err}
	default:
		return &Error{Op: op, Class: Permanent, Message: cleanMessage(err.Error(), creds)}
	}
}
