package notifytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"precheckwatch/failure"
	"precheckwatch/internal/waitfor"
	"precheckwatch/notify"
	"precheckwatch/notify/pace"
)

// NoSecrets fails when an outcome's failure (its text, every field, every
// error beneath) or a sink's printed form shows any of secrets.
func NoSecrets(t *testing.T, out notify.Outcome, printed string, secrets ...string) {
	t.Helper()
	text := fmt.Sprintf("%+v %s", out, printed)
	if out.Err != nil {
		text += fmt.Sprintf(" %v %+v", out.Err, *out.Err)
		for err := out.Err.Err; err != nil; err = errors.Unwrap(err) {
			text += " " + err.Error()
		}
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("%q leaks %q", text, s)
		}
	}
}

// Within is a context that ends after d, or with the test.
func Within(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// GiveUpWhenRises is the context of a client that gives up on a hung
// server once count rises above what it reads now: once the server holds
// the request (its requests) or has done its work and swallowed the answer
// (its deliveries). If count never rises, the context ends after ten
// seconds and the test's own checks fail.
func GiveUpWhenRises(t *testing.T, count func() int) context.Context {
	before := count()
	c, cancel := waitfor.GiveUpWhen(10*time.Second, func() bool { return count() > before })
	t.Cleanup(cancel)
	return c
}

// Answer is what a channel's server answers, and the outcome a sink must
// read from it.
type Answer struct {
	Name   string
	Status int
	Body   string
	// Class, Code and HTTPStatus are the failure the sink must read; a
	// Class of 0 is a send.
	Class      failure.Class
	Code       string
	HTTPStatus int
	Ambiguous  bool
	// Unposted is whether the sink must be sure nothing was posted.
	Unposted bool
}

// ReadsAnswers sends m through the sink open builds against a server giving
// each answer, and checks the outcome, and that it shows none of secrets.
func ReadsAnswers(t *testing.T, answers []Answer, open func(url string) (notify.Sink, error), m notify.Message, secrets ...string) {
	for _, a := range answers {
		t.Run(a.Name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(a.Status)
				io.WriteString(w, a.Body)
			}))
			defer srv.Close()
			sink, err := open(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			out := sink.Send(Within(t, 5*time.Second), m)
			f := Failure(out)
			if f.Class != a.Class || f.Code != a.Code || f.HTTPStatus != a.HTTPStatus || out.Ambiguous != a.Ambiguous || out.Unposted != a.Unposted ||
				(f.Class != 0 && f.Service != sink.Name()) {
				t.Fatalf("outcome %+v", out)
			}
			NoSecrets(t, out, fmt.Sprint(sink), secrets...)
		})
	}
}

// Failure is out's failure, or the zero Error when out is a send.
func Failure(out notify.Outcome) failure.Error {
	if out.Err == nil {
		return failure.Error{}
	}
	return *out.Err
}

// Paced reports whether out is the channel's pace holding a send back:
// throttled before the request left, so surely not posted.
func Paced(out notify.Outcome) bool {
	f := Failure(out)
	return f.Class == failure.Throttled && f.HTTPStatus == 0 && !out.Ambiguous && out.Unposted
}

// Unpaced is a pacer that lets a test's sends go at once.
func Unpaced(t testing.TB) pace.Pacer {
	p, err := pace.NewLocal(pace.Limit{N: 1000, Per: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
