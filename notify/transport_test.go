package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"precheckwatch/failure"
	"precheckwatch/notify"
)

// A failure's text shows none of the secrets the sink knows, however the
// error beneath quotes them, and still unwraps to the context's error.
func TestFailureHidesSecrets(t *testing.T) {
	const raw = "https://oapi.dingtalk.com/robot/send?access_token=t0ken-9%2Bx"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	scrub := notify.URLScrubber(raw, u, "SECsigning")
	cases := []struct {
		name     string
		err      error
		deadline bool
	}{
		{"url error", &url.Error{Op: "Post", URL: raw, Err: context.DeadlineExceeded}, true},
		{"url quoted in text", fmt.Errorf("post %s: %w", raw, context.DeadlineExceeded), true},
		{"query in text", errors.New("refused " + u.RawQuery), false},
		{"signing secret in text", errors.New("bad sign for SECsigning"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := notify.Failure("dingtalk", "send", failure.Transient, c.err, scrub, nil)
			text := fmt.Sprintf("%v %+v", f, *f)
			for _, s := range []string{"t0ken", "SECsigning", u.RawQuery} {
				if strings.Contains(text, s) {
					t.Errorf("%q shows %q", text, s)
				}
			}
			if f.Service != "dingtalk" || f.Class != failure.Transient || errors.Is(f, context.DeadlineExceeded) != c.deadline {
				t.Errorf("failure %+v", *f)
			}
		})
	}
}
