package handler

import (
	"errors"
	"testing"
	"time"

	"precheckwatch/notify"
)

func TestAttemptRecordRoundTrip(t *testing.T) {
	at := time.UnixMilli(1764200000123)
	for _, msg := range []string{"t-1:slack:PASSED", "sha256-0123456789abcdef0123456789abcdef"} {
		a := attempt{gen: 3, at: at, msg: msg}
		got, err := parseAttempt(3, a.ref())
		if err != nil || got != a {
			t.Errorf("parse(%q) = %+v, %v; want %+v", a.ref(), got, err, a)
		}
	}
	for _, bad := range []string{"", "123", "x t-1", "123 ", " t-1"} {
		if _, err := parseAttempt(1, bad); err == nil {
			t.Errorf("parse(%q) accepted a broken record", bad)
		}
	}
}

// Only a send that surely posted nothing frees its verdicts for another
// message; anything that may have reached the channel is settled instead.
func TestSurelyUnsent(t *testing.T) {
	cases := []struct {
		out  notify.Outcome
		want bool
	}{
		{notify.Outcome{Status: notify.Sent}, false},
		{notify.Outcome{Status: notify.Retry, Reason: "ratelimited"}, true},
		{notify.Outcome{Status: notify.Retry, Reason: "local_rate_limit"}, true},
		{notify.Outcome{Status: notify.Retry, Reason: "errcode_130101"}, true},
		{notify.Outcome{Status: notify.Retry, Reason: "connect"}, true},
		{notify.Outcome{Status: notify.Failed, Reason: "invalid_auth"}, true},
		{notify.Outcome{Status: notify.Retry, Ambiguous: true, Reason: "timeout", Err: errors.New("deadline")}, false},
		{notify.Outcome{Status: notify.Retry, Reason: "http_503"}, false},
		{notify.Outcome{Status: notify.Retry, Reason: "http_502"}, false},
	}
	for _, c := range cases {
		if got := surelyUnsent(c.out); got != c.want {
			t.Errorf("surelyUnsent(%+v) = %v, want %v", c.out, got, c.want)
		}
	}
}
