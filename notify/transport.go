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
	"strings"
	"time"

	"precheckwatch/failure"
	"precheckwatch/notify/pace"
	"precheckwatch/secret"
)

// TransportOutcome classifies an error of op with no answer from channel.
// A request refused before any byte was sent (dial failure) is safely
// retryable; any other may have been received, so it is ambiguous. An
// answer that could not be read also means the request arrived.
func TransportOutcome(channel, op string, err error, scrub *strings.Replacer) Outcome {
	out := Outcome{Ambiguous: true, Err: Failure(channel, op, failure.Transient, err, scrub, nil)}
	var (
		ue  *url.Error
		oe  *net.OpError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		out.Ambiguous, out.Unposted = false, true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, &ue),
		errors.As(err, &se), errors.As(err, &ute), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	default:
		// Not a transport error: the request could not even be built.
		out.Err.Class, out.Ambiguous, out.Unposted = failure.Permanent, false, true
	}
	return out
}

// PaceOutcome reports that ctx ended before the channel's pace let a
// request go: nothing was sent.
func PaceOutcome(channel string, err error) Outcome {
	return Outcome{Unposted: true, Err: &failure.Error{Service: channel, Op: "send", Class: failure.Throttled,
		Message: "waiting for the channel's pace: " + err.Error(), Err: err}}
}

// ForeignOutcome reports a message that another channel rendered: a bug in
// the caller, refused before anything is sent.
func ForeignOutcome(channel string, c Content) Outcome {
	return Outcome{Unposted: true, Err: &failure.Error{Service: channel, Op: "send", Class: failure.Permanent,
		Message: fmt.Sprintf("cannot send a message rendered as %T", c)}}
}

// Failure is err, a failure of op on channel, classified as class, its
// text with every secret scrub knows replaced and any quoted URL dropped.
// It unwraps to cause, a typed answer that holds no secret, or, when cause
// is nil, to the context error err holds, if any.
func Failure(channel, op string, class failure.Class, err error, scrub *strings.Replacer, cause error) *failure.Error {
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
	return &failure.Error{Service: channel, Op: op, Class: class, Message: scrub.Replace(msg), Err: cause}
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
// (429 throttled, 5xx transient, any other permanent).
func PostJSON(ctx context.Context, client *http.Client, url, channel string, body []byte, scrub *strings.Replacer) (resp *http.Response, out Outcome, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, Outcome{Unposted: true, Err: &failure.Error{Service: channel, Op: "send", Class: failure.Permanent, Message: "cannot build the request"}}, false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err = client.Do(req)
	if err != nil {
		return nil, TransportOutcome(channel, "send", err, scrub), false
	}
	if resp.StatusCode == http.StatusOK {
		return resp, Outcome{}, true
	}
	resp.Body.Close()
	// A gateway's 5xx page may follow a post the channel made.
	return nil, Outcome{Unposted: resp.StatusCode < 500, Err: &failure.Error{Service: channel, Op: "send",
		Class: StatusClass(resp.StatusCode), HTTPStatus: resp.StatusCode}}, false
}

// StatusClass classifies an HTTP status that carries no answer of the
// channel's own, as a proxy or gateway gives it.
func StatusClass(status int) failure.Class {
	switch {
	case status == http.StatusTooManyRequests:
		return failure.Throttled
	case status >= 500:
		return failure.Transient
	default:
		return failure.Permanent
	}
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
