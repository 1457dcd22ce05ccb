package handler

import (
	"context"
	"testing"

	"precheckwatch/failure"
	"precheckwatch/notify"
)

// Only a send that surely posted nothing frees its verdicts for another
// message; anything that may have reached the channel is settled instead.
func TestSurelyUnsent(t *testing.T) {
	throttled := &failure.Error{Service: "slack", Op: "chat.postMessage", Class: failure.Throttled, Code: "ratelimited", HTTPStatus: 429}
	refused := &failure.Error{Service: "slack", Op: "chat.postMessage", Class: failure.Auth, Code: "invalid_auth", HTTPStatus: 200}
	lost := &failure.Error{Service: "slack", Op: "chat.postMessage", Class: failure.Transient, Err: context.DeadlineExceeded}
	gateway := &failure.Error{Service: "slack", Op: "chat.postMessage", Class: failure.Transient, HTTPStatus: 503}
	cases := []struct {
		out  notify.Outcome
		want bool
	}{
		{notify.Outcome{}, false},
		{notify.Outcome{Unposted: true}, false},
		{notify.Outcome{Unposted: true, Err: throttled}, true},
		{notify.Outcome{Unposted: true, Err: refused}, true},
		{notify.Outcome{Ambiguous: true, Err: lost}, false},
		{notify.Outcome{Err: gateway}, false},
	}
	for _, c := range cases {
		if got := surelyUnsent(c.out); got != c.want {
			t.Errorf("surelyUnsent(%+v) = %v, want %v", c.out, got, c.want)
		}
	}
}
