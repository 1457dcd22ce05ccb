package sas

import (
	"errors"
	"net/url"
	"strings"

	sdkerr "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

	"precheckwatch/failure"
	"precheckwatch/secret"
)

// service names Security Center in the failures this package returns.
const service = "sas"

// classify maps a service answer to a class. The code decides; the status
// only when the code is unknown or missing.
func classify(code string, status int, message string) failure.Class {
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return failure.Throttled
	case code == "ServiceUnavailable", code == "InternalError", code == "ServerError",
		code == "SignatureNonceUsed": // a fresh nonce on the next attempt succeeds
		return failure.Transient
	case isAuthCode(code), code == "InvalidParameter" && strings.Contains(message, "SecurityToken"):
		return failure.Auth
	case status >= 500:
		return failure.Transient
	case code == "" && status == 429:
		return failure.Throttled
	case code == "" && (status == 401 || status == 403):
		return failure.Auth
	default:
		return failure.Permanent
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
func fromContext(op string, err error) *failure.Error {
	return &failure.Error{Service: service, Op: op, Class: failure.Transient, Message: err.Error(), Err: err}
}

// fromSDK classifies an error of ProcessCommonRequest.
func fromSDK(op string, err error, creds secret.Credentials) *failure.Error {
	var server *sdkerr.ServerError
	var client *sdkerr.ClientError
	var urlErr *url.Error
	switch {
	case errors.As(err, &server):
		return &failure.Error{
			Service:    service,
			Op:         op,
			Class:      classify(server.ErrorCode(), server.HttpStatus(), server.Message()),
			Code:       server.ErrorCode(),
			HTTPStatus: server.HttpStatus(),
			RequestID:  server.RequestId(),
			Message:    cleanMessage(server.Message(), creds),
		}
	case errors.As(err, &client):
		class := failure.Permanent
		if client.ErrorCode() == sdkerr.TimeoutErrorCode {
			class = failure.Transient
		}
		return &failure.Error{Service: service, Op: op, Class: class, Code: client.ErrorCode(), Message: cleanMessage(client.Message(), creds)}
	case errors.As(err, &urlErr):
		// url.Error's own text holds the signed URL: keep only what lies beneath.
		return &failure.Error{Service: service, Op: op, Class: failure.Transient, Message: cleanMessage(urlErr.Err.Error(), creds), Err: urlErr.Err}
	default:
		return &failure.Error{Service: service, Op: op, Class: failure.Permanent, Message: cleanMessage(err.Error(), creds)}
	}
}
