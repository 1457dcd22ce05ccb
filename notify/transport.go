package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"precheckwatch/notify/pace"
	"precheckwatch/secret"
)

// TransportOutcome classifies an error with no answer from the service.
// A request refused before any byte was sent (dial failure) is safely
// retryable; any other may have been received, so it is ambiguous. An
// answer that could not be read also means the request arrived.
func TransportOutcome(op string, err error, scrub *strings.Replacer) Outcome {
	out := Outcome{Status: Retry, Ambiguous: true, Reason: "transport", Err: Redact(op, err, scrub, nil)}
	var (
		ue  *url.Error
		oe  *net.OpError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		out.Ambiguous, out.Unposted, out.Reason = false, true, "connect"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ue) && ue.Timeout():
		out.Reason = "timeout"
	case errors.Is(err, context.Canceled):
		out.Reason = "canceled"
	case errors.As(err, &se), errors.As(err, &ute), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		out.Reason = "bad_response"
	case errors.As(err, &ue):
	default:
		// Not a transport error: the request could not even be built.
		out.Status, out.Ambiguous, out.Unposted, out.Reason = Failed, false, true, "request"
	}
	return out
}

// PaceOutcome reports that ctx ended before the channel's pace let a
// request go: nothing was sent.
func PaceOutcome(channel string, err error) Outcome {
	return Outcome{Status: Retry, Unposted: true, Reason: "local_rate_limit", Err: fmt.Errorf("%s: waiting for the channel's pace: %w", channel, err)}
}

// ForeignOutcome reports a message that another channel rendered: a bug in
// the caller, refused before anything is sent.
func ForeignOutcome(channel string, c Content) Outcome {
	return Outcome{Status: Failed, Unposted: true, Reason: "request", Err: fmt.Errorf("%s: cannot send a message rendered as %T", channel, c)}
}

// safeError carries a scrubbed message and, for errors.Is and errors.As,
// only a cause that holds no secret. A *url.Error is never kept, since it
// quotes the URL.
type safeError struct {
	msg   string
	cause error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.cause }

// Redact returns err as "op: message" with every secret scrub knows
// replaced and any quoted URL dropped. It unwraps to cause, a typed answer
// that holds no secret, or, when cause is nil, to the context error err
// holds, if any.
func Redact(op string, err error, scrub *strings.Replacer, cause error) error {
	if cause == nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			cause = context.DeadlineExceeded
		case errors.Is(err, context.Canceled):
			cause = context.Canceled
		}
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		// Drop the quoted URL; keep what went wrong with it.
		msg = ue.Op + " " + secret.Mask + ": " + ue.Err.Error()
	}
	return &safeError{msg: op + ": " + scrub.Replace(msg), cause: cause}
}

// URLScrubber replaces a credential-bearing URL, its normalised form, its
// path and its query, and any further secrets, wherever they appear.
func URLScrubber(raw string, u *url.URL, secrets ...string) *strings.Replacer {
	redacted := secret.RedactURL(raw)
	pairs := []string{raw, redacted, u.String(), redacted}
	if len(u.Path) > 1 {
		pairs = append(pairs, u.Path, "/"+secret.Mask, u.EscapedPath(), "/"+secret.Mask)
	}
	if u.RawQuery != "" {
		pairs = append(pairs, u.RawQuery, secret.Mask)
	}
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, secret.Mask)
		}
	}
	return strings.NewReplacer(pairs...)
}

// HTTPClient returns c, or a client with timeout when c is nil.
func HTTPClient(c *http.Client, timeout time.Duration) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: timeout}
}

// PostJSON posts body, a JSON document, to url and returns the answer when
// it is HTTP 200, the status chat webhooks answer with whatever the result;
// the caller closes its body. Otherwise ok is false and out classifies the
// failure: a transport error, or a status only a proxy or gateway gives
// (429 and 5xx transient, any other permanent).
func PostJSON(ctx context.Context, client *http.Client, url, op string, body []byte, scrub *strings.Replacer) (resp *http.Response, out Outcome, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, Outcome{Status: Failed, Unposted: true, Reason: "request", Err: errors.New(op + ": cannot build the request")}, false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err = client.Do(req)
	if err != nil {
		return nil, TransportOutcome(op, err, scrub), false
	}
	if resp.StatusCode == http.StatusOK {
		return resp, Outcome{}, true
	}
	resp.Body.Close()
	// A gateway's 5xx page may follow a post the channel made.
	out = Outcome{Status: Failed, Unposted: resp.StatusCode < 500, Reason: "http_" + strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("%s: HTTP %s", op, resp.Status)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		out.Status = Retry
	}
	return nil, out, false
}

// Depart waits until p lets a send go, then returns ctx bounded by timeout
// from that moment: a send's own timeout starts when it leaves, not while
// it waits for the channel's window. When the pace lets nothing go within
// ctx, ok is false and out says so; nothing was sent.
func Depart(ctx context.Context, channel string, p pace.Pacer, timeout time.Duration) (sendCtx context.Context, cancel context.CancelFunc, out Outcome, ok bool) {
	if err := p.Wait(ctx); err != nil {
		return nil, nil, PaceOutcome(channel, err), false
	}
	sendCtx, cancel = context.WithTimeout(ctx, timeout)
	return sendCtx, cancel, Outcome{}, true
}
