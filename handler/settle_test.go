package handler

import (
	"errors"
	"testing"

	"precheckwatch/notify"
)

// Only a send that surely posted nothing frees its verdicts for another
// message; anything that may have reached the channel is settled instead.
func TestSurelyUnsent(t *testing.T) {
	cases := []struct {
		out  notify.Outcome
		want bool
	}{
		{notify.Outcome{Status: notify.Sent}, false},
		{notify.Outcome{Status: notify.Sent, Unposted: true}, false},
		{notify.Outcome{Status: notify.Retry, Unposted: true, Reason: "ratelimited"}, true},
		{notify.Outcome{Status: notify.Failed, Unposted: true, Reason: "invalid_auth"}, true},
		{notify.Outcome{Status: notify.Retry, Ambiguous: true, Reason: "timeout", Err: errors.New("deadline")}, false},
		{notify.Outcome{Status: notify.Retry, Reason: "http_503"}, false},
	}
	for _, c := range cases {
		if got := surelyUnsent(c.out); got != c.want {
			t.Errorf("surelyUnsent(%+v) = %v, want %v", c.out, got, c.want)
		}
	}
}
