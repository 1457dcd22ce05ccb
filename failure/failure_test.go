package failure

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorText(t *testing.T) {
	cases := []struct {
		err  *Error
		want string
	}{
		{&Error{Service: "sas", Op: "QueryPreCheckDatabase", Class: Throttled, Code: "Throttling.User", HTTPStatus: 400, RequestID: "r-1", Message: "slow down"},
			"sas QueryPreCheckDatabase: throttled: Throttling.User (HTTP 400, RequestId r-1): slow down"},
		{&Error{Service: "mns", Op: "receive", Class: Transient, Err: context.DeadlineExceeded},
			"mns receive: transient: context deadline exceeded"},
		{&Error{Service: "slack", Op: "send", Class: Auth, Code: "invalid_auth"},
			"slack send: auth: invalid_auth"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestClassOf(t *testing.T) {
	gone := &Error{Service: "mns", Op: "delete", Class: Gone, Err: context.Canceled}
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, 0},
		{"classified", gone, Gone},
		{"wrapped", fmt.Errorf("hand on: %w", gone), Gone},
		{"unclassified", errors.New("surprise"), Transient},
	}
	for _, c := range cases {
		if got := ClassOf(c.err); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	if !errors.Is(gone, context.Canceled) {
		t.Error("an Error does not unwrap to the error beneath")
	}
}

// The worst of several failures is the greatest class; only the first two
// are worth retrying.
func TestClassOrder(t *testing.T) {
	order := []Class{Transient, Throttled, Gone, Auth, Permanent}
	for i, c := range order {
		if i > 0 && c <= order[i-1] {
			t.Errorf("%s is not worse than %s", c, order[i-1])
		}
		if c.Retryable() != (i < 2) {
			t.Errorf("%s.Retryable() = %v", c, c.Retryable())
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		err     error
		attempt int
		want    time.Duration
	}{
		{&Error{Class: Throttled, RetryAfter: 3 * time.Second}, 1, 3 * time.Second},
		{&Error{Class: Throttled}, 1, 250 * time.Millisecond},
		{&Error{Class: Transient}, 3, time.Second},
		{errors.New("connection reset"), 2, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Backoff(tt.err, tt.attempt); got != tt.want {
			t.Errorf("Backoff(%v, %d) = %s, want %s", tt.err, tt.attempt, got, tt.want)
		}
	}
}
