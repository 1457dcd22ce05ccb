package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/failure"
	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/mns"
	"precheckwatch/queue"
	"precheckwatch/secret"
)

// The tests drive the real SDK through the adapter against the MNS emulator
// on a loopback httptest server, addressed as http://127.0.0.1:PORT.

var keys = secret.Credentials{AccessKeyID: "ak", AccessKeySecret: "sk-do-not-leak"}

type env struct {
	srv    *mns.Server
	faults *fault.Injector
	url    string
}

func newEnv(t *testing.T, queues ...string) env {
	t.Helper()
	faults := fault.New(1)
	srv := mns.New(mns.Config{AccessKeys: map[string]string{keys.AccessKeyID: keys.AccessKeySecret.Reveal()}, Faults: faults})
	for _, q := range queues {
		if err := srv.CreateQueue(q, mns.QueueAttributes{}); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return env{srv: srv, faults: faults, url: ts.URL}
}

func (e env) open(t *testing.T, name string) *queue.Queue {
	t.Helper()
	q, err := queue.Open(queue.Config{Endpoint: e.url, Name: name, Credentials: keys, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func receiveOne(t *testing.T, q *queue.Queue) queue.Message {
	t.Helper()
	msgs, err := q.Receive(testContext(t), 16, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	return msgs[0]
}

func TestRoundTrip(t *testing.T) {
	for _, suffix := range []string{"", "/", "/mns.local"} {
		t.Run("endpoint"+suffix, func(t *testing.T) {
			e := newEnv(t, "q")
			q, err := queue.Open(queue.Config{Endpoint: e.url + suffix, Name: "q", Credentials: keys})
			if err != nil {
				t.Fatal(err)
			}
			ctx := testContext(t)
			body := `{"taskId":"t-1","label":"a <b> & 'c'"}`
			if err := q.Send(ctx, []queue.Outgoing{{Body: body}}); err != nil {
				t.Fatalf("send: %v", err)
			}
			m := receiveOne(t, q)
			if m.Body != body || m.DequeueCount != 1 || m.Priority != 8 || m.Handle == "" || m.ID == "" ||
				m.EnqueueTime.IsZero() || m.FirstDequeueTime.IsZero() || !m.NextVisibleTime.After(m.FirstDequeueTime) {
				t.Fatalf("received %+v", m)
			}
			lost, err := q.Delete(ctx, m.Handle)
			if err != nil || len(lost) != 0 {
				t.Fatalf("delete: lost %v, %v", lost, err)
			}
			if st := e.srv.Stats("q"); st != (mns.QueueStats{}) {
				t.Fatalf("queue not empty: %+v", st)
			}
			msgs, err := q.Receive(ctx, 16, 0)
			if err != nil || len(msgs) != 0 {
				t.Fatalf("empty queue: %v %v", msgs, err)
			}
		})
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	tests := []struct{ endpoint, name, want string }{
		{"", "q", "not an http(s) URL"},
		{"127.0.0.1:9100", "q", "http"},
		{"ftp://127.0.0.1:9100", "q", "scheme"},
		{"http://user:hunter2@127.0.0.1:9100", "q", "user info"},
		{"http://127.0.0.1:9100?x=1", "q", "query"},
		{"http://127.0.0.1:9100", "", "queue name"},
		{"http://127.0.0.1:9100", "bad_name", "queue name"},
		{"http://127.0.0.1:9100", strings.Repeat("q", 257), "queue name"},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint+"|"+tc.name, func(t *testing.T) {
			_, err := queue.Open(queue.Config{Endpoint: tc.endpoint, Name: tc.name, Credentials: keys})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestDelayAndRedelivery(t *testing.T) {
	e := newEnv(t, "q")
	q := e.open(t, "q")
	ctx := testContext(t)
	if err := q.Send(ctx, []queue.Outgoing{{Body: "later", Delay: 90 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if msgs, err := q.Receive(ctx, 16, 0); err != nil || len(msgs) != 0 {
		t.Fatalf("delayed message visible early: %v %v", msgs, err)
	}
	if st := e.srv.Stats("q"); st.Delayed != 1 {
		t.Fatalf("stats %+v", st)
	}
	e.srv.Advance(90 * time.Second)
	first := receiveOne(t, q)
	e.srv.Advance(31 * time.Second) // the queue's visibility timeout is 30 s
	second := receiveOne(t, q)
	if second.DequeueCount != 2 || second.Handle == first.Handle || second.ID != first.ID {
		t.Fatalf("redelivery %+v after %+v", second, first)
	}
	lost, err := q.Delete(ctx, first.Handle)
	if err != nil || len(lost) != 1 {
		t.Fatalf("expired handle: lost %v, %v", lost, err)
	}
}

func TestHandlesAfterChangeVisibility(t *testing.T) {
	e := newEnv(t, "q")
	q := e.open(t, "q")
	ctx := testContext(t)
	if err := q.Send(ctx, []queue.Outgoing{{Body: "x"}}); err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, q)
	fresh, err := q.ChangeVisibility(ctx, m.Handle, 10*time.Minute)
	if err != nil || fresh == "" || fresh == m.Handle {
		t.Fatalf("change visibility: %q %v", fresh, err)
	}
	e.srv.Advance(5 * time.Minute)
	if st := e.srv.Stats("q"); st.Inactive != 1 {
		t.Fatalf("visibility not extended: %+v", st)
	}

	tests := []struct {
		name, handle, code string
	}{
		{"stale", m.Handle, "MessageNotExist"},
		{"garbled", "garbage", "ReceiptHandleError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := q.ChangeVisibility(ctx, tc.handle, time.Minute)
			var qe *failure.Error
			if !errors.As(err, &qe) || qe.Class != failure.Gone || qe.Code != tc.code || failure.ClassOf(err) != failure.Gone {
				t.Fatalf("got %v", err)
			}
		})
	}
	lost, err := q.Delete(ctx, fresh)
	if err != nil || len(lost) != 0 {
		t.Fatalf("delete with the new handle: %v %v", lost, err)
	}
}

func TestBatches(t *testing.T) {
	e := newEnv(t, "q")
	q := e.open(t, "q")
	ctx := testContext(t)

	var out []queue.Outgoing
	for i := range 40 {
		out = append(out, queue.Outgoing{Body: fmt.Sprintf("m%02d", i)})
	}
	for range 5 {
		out = append(out, queue.Outgoing{Body: strings.Repeat("x", 20000)})
	}
	if err := q.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
	// 40 small: 16+16+8 (the 8 join the big ones up to 64 KB: 8 small + 3 big),
	// then 2 big.
	if n := e.srv.Requests()[mns.OpBatchSendMessage]; n != 4 {
		t.Fatalf("batch sends %d, want 4", n)
	}
	if got := len(e.srv.Bodies("q")); got != 45 {
		t.Fatalf("queued %d", got)
	}

	msgs, err := q.Receive(ctx, 3, 0)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("receive 3: %d %v", len(msgs), err)
	}
	stale := msgs[2].Handle
	if _, err := q.ChangeVisibility(ctx, stale, time.Minute); err != nil {
		t.Fatal(err)
	}
	lost, err := q.Delete(ctx, msgs[0].Handle, "garbage", msgs[1].Handle, stale)
	if err != nil || len(lost) != 2 || lost[0] != "garbage" || lost[1] != stale {
		t.Fatalf("partial delete: lost %v, %v", lost, err)
	}
	if got := len(e.srv.Bodies("q")); got != 43 {
		t.Fatalf("after delete %d remain", got)
	}
}

func TestSendRefusals(t *testing.T) {
	e := newEnv(t, "q")
	if err := e.srv.CreateQueue("small", mns.QueueAttributes{MaximumMessageSize: 1024}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	tests := []struct {
		queue  string
		body   string
		code   string
		status int
	}{
		{"q", strings.Repeat("x", 65537), "InvalidArgument", 0},      // refused before sending
		{"small", strings.Repeat("x", 2000), "InvalidArgument", 400}, // refused by the service, in a batch answer
		{"missing", "x", "QueueNotExist", 404},
	}
	for _, tc := range tests {
		t.Run(tc.queue, func(t *testing.T) {
			q := e.open(t, tc.queue)
			err := q.Send(ctx, []queue.Outgoing{{Body: "ok"}, {Body: tc.body}})
			var be *queue.BatchError
			if !errors.As(err, &be) || be.Class() != failure.Permanent {
				t.Fatalf("got %v", err)
			}
			last := be.Failures[len(be.Failures)-1]
			if last.Index != 1 || last.Err.Code != tc.code || last.Err.HTTPStatus != tc.status {
				t.Fatalf("failure %+v: %v", last, last.Err)
			}
		})
	}
	if got := e.srv.Bodies("small"); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("the valid entry of a partly refused batch: %v", got)
	}
}

func TestLongPoll(t *testing.T) {
	e := newEnv(t, "q")
	q := e.open(t, "q")
	ctx := testContext(t)
	go func() {
		// The message arrives once the receive waits on the queue: the
		// long poll answers it rather than finding it there.
		if !waitfor.Condition(5*time.Second, func() bool { return e.srv.Polling("q") == 1 }) {
			t.Error("the receive never waited on the queue")
		}
		e.srv.Send("q", "arrived", 0)
	}()
	msgs, err := q.Receive(ctx, 16, 10*time.Second)
	if err != nil || len(msgs) != 1 || msgs[0].Body != "arrived" {
		t.Fatalf("long poll: %v %v", msgs, err)
	}
	start := time.Now()
	msgs, err = q.Receive(ctx, 16, time.Second)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("empty long poll: %v %v", msgs, err)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Fatal("the long poll did not wait")
	}
	// A wait longer than the context allows is shortened to fit it.
	short, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	msgs, err = q.Receive(short, 16, 30*time.Second)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("shortened long poll: %v %v", msgs, err)
	}
}

func TestCredentials(t *testing.T) {
	e := newEnv(t, "q")
	e.srv.AddSTSKey("STS.one", "sts-secret", "token-one")
	ctx := testContext(t)
	base := e.open(t, "q")
	tests := []struct {
		name  string
		creds secret.Credentials
		class failure.Class
		code  string
	}{
		{"long-term", keys, 0, ""},
		{"sts", secret.Credentials{AccessKeyID: "STS.one", AccessKeySecret: "sts-secret", SecurityToken: "token-one"}, 0, ""},
		{"sts without token", secret.Credentials{AccessKeyID: "STS.one", AccessKeySecret: "sts-secret"}, failure.Auth, "AccessDenied"},
		{"wrong secret", secret.Credentials{AccessKeyID: "ak", AccessKeySecret: "wrong-secret"}, failure.Auth, "SignatureDoesNotMatch"},
		{"unknown key", secret.Credentials{AccessKeyID: "nobody", AccessKeySecret: "unknown-secret"}, failure.Auth, "InvalidAccessKeyId"},
		{"no keys", secret.Credentials{}, failure.Auth, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := base.WithCredentials(tc.creds).Receive(ctx, 1, 0)
			if failure.ClassOf(err) != tc.class {
				t.Fatalf("got %v, want class %v", err, tc.class)
			}
			var qe *failure.Error
			if err != nil && (!errors.As(err, &qe) || qe.Code != tc.code) {
				t.Fatalf("got %v, want code %q", err, tc.code)
			}
			if err != nil && (strings.Contains(err.Error(), tc.creds.AccessKeySecret.Reveal()) && tc.creds.AccessKeySecret.Set() ||
				strings.Contains(err.Error(), "token-one")) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestFaultsAreClassified(t *testing.T) {
	e := newEnv(t, "q")
	q := e.open(t, "q")
	tests := []struct {
		kind   fault.Kind
		class  failure.Class
		code   string
		status int
	}{
		{fault.Throttle, failure.Throttled, "QpsLimitExceeded", 400},
		{fault.Server, failure.Transient, "InternalError", 500},
		{fault.Hang, failure.Transient, "", 0},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			e.faults.Reset()
			e.faults.Set(tc.kind, 1)
			defer e.faults.Reset()
			// The four calls share the context. Answered calls need time to
			// be answered on a loaded machine. A hung one ends at a short
			// deadline (the SDK's request follows a deadline, not a
			// cancel), and the calls after it find the context ended: the
			// same outcome whether or not the deadline fell before MNS held
			// the request.
			wait := 10 * time.Second
			if tc.kind == fault.Hang {
				wait = 600 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			checks := map[string]error{}
			_, checks["receive"] = q.Receive(ctx, 16, 0)
			checks["send"] = q.Send(ctx, []queue.Outgoing{{Body: "x"}})
			_, checks["delete"] = q.Delete(ctx, "1-MS0xLTE=")
			_, checks["change visibility"] = q.ChangeVisibility(ctx, "1-MS0xLTE=", time.Minute)
			for op, err := range checks {
				var qe *failure.Error
				if failure.ClassOf(err) != tc.class || !errors.As(err, &qe) || qe.Code != tc.code || qe.HTTPStatus != tc.status || !failure.ClassOf(err).Retryable() {
					t.Errorf("%s: got %v (class %v), want %v %q (HTTP %d)", op, err, failure.ClassOf(err), tc.class, tc.code, tc.status)
					continue
				}
				// An answer names its request; a hung call has none.
				wantID := tc.code != ""
				if qe.Service != "mns" || (qe.RequestID != "") != wantID {
					t.Errorf("%s: got service %q request id %q, want mns and an id: %v", op, qe.Service, qe.RequestID, wantID)
				}
			}
		})
	}
}

// Every failure the service answered carries the answer's HTTP status, as
// MNS sends it (reference §2.4), whatever the SDK made of the body; one
// that got no answer carries none.
func TestFailuresCarryTheAnswersStatus(t *testing.T) {
	e := newEnv(t, "q")
	ctx := testContext(t)
	q := e.open(t, "q")
	if err := q.Send(ctx, []queue.Outgoing{{Body: "x"}}); err != nil {
		t.Fatal(err)
	}
	stale := receiveOne(t, q).Handle
	if _, err := q.ChangeVisibility(ctx, stale, time.Minute); err != nil {
		t.Fatal(err)
	}
	// gateway answers every request itself, as a proxy in front of MNS may.
	gateway := func(status int, body string) *queue.Queue {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(ts.Close)
		q, err := queue.Open(queue.Config{Endpoint: ts.URL, Name: "q", Credentials: keys})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	receive := func(q *queue.Queue) error { _, err := q.Receive(ctx, 1, 0); return err }
	tests := []struct {
		name   string
		call   func() error
		class  failure.Class
		code   string
		status int
	}{
		{"no such queue", func() error { return receive(e.open(t, "missing")) }, failure.Permanent, "QueueNotExist", 404},
		{"superseded handle", func() error { _, err := q.ChangeVisibility(ctx, stale, time.Minute); return err }, failure.Gone, "MessageNotExist", 404},
		{"garbled handle", func() error { _, err := q.ChangeVisibility(ctx, "garbage", time.Minute); return err }, failure.Gone, "ReceiptHandleError", 400},
		{"wrong secret", func() error {
			return receive(q.WithCredentials(secret.Credentials{AccessKeyID: keys.AccessKeyID, AccessKeySecret: "wrong-secret"}))
		}, failure.Auth, "SignatureDoesNotMatch", 403},
		{"no keys, no request", func() error { return receive(q.WithCredentials(secret.Credentials{})) }, failure.Auth, "", 0},
		{"a gateway's HTML error page", func() error { return receive(gateway(http.StatusBadGateway, "<html>502 Bad Gateway</html>")) }, failure.Transient, "", 502},
		{"an empty success", func() error { return receive(gateway(http.StatusOK, "")) }, failure.Transient, "", 200},
		{"nothing listening", func() error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed, err := queue.Open(queue.Config{Endpoint: "http://" + ln.Addr().String(), Name: "q", Credentials: keys})
			ln.Close()
			if err != nil {
				t.Fatal(err)
			}
			return receive(closed)
		}, failure.Transient, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			f := failure.As(err)
			if f == nil || f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.status || f.Service != "mns" {
				t.Fatalf("got %v, want mns %v %q with HTTP status %d", err, tc.class, tc.code, tc.status)
			}
		})
	}
}

func TestTLSEndpointSpeaksTLS(t *testing.T) {
	srv := mns.New(mns.Config{AccessKeys: map[string]string{"ak": "sk"}})
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	q, err := queue.Open(queue.Config{Endpoint: ts.URL, Name: "q", Credentials: keys})
	if err != nil {
		t.Fatal(err)
	}
	// The test server's certificate is self-signed: the handshake must
	// happen and fail verification, never fall back to plain HTTP.
	_, err = q.Receive(testContext(t), 1, 0)
	if failure.ClassOf(err) != failure.Transient || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v", err)
	}
}

func TestTwoQueuesInConcurrentUse(t *testing.T) {
	e := newEnv(t, "q", "dead")
	q := e.open(t, "q")
	dead := e.open(t, "dead")
	ctx := testContext(t)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 5 {
				body := fmt.Sprintf("w%d-%d", w, i)
				if err := q.Send(ctx, []queue.Outgoing{{Body: body}}); err != nil {
					t.Error(err)
					return
				}
				msgs, err := q.Receive(ctx, 2, 0)
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range msgs {
					if err := dead.Send(ctx, []queue.Outgoing{{Body: m.Body}}); err != nil {
						t.Error(err)
					}
					if _, err := q.Delete(ctx, m.Handle); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := len(e.srv.Bodies("q")) + len(e.srv.Bodies("dead")); got != 30 {
		t.Fatalf("messages lost or duplicated: %d in all", got)
	}
}

// BenchmarkRoundTrip measures one send, receive and delete through the SDK
// and the emulator on loopback: three HTTP requests per iteration.
func BenchmarkRoundTrip(b *testing.B) {
	srv := mns.New(mns.Config{AccessKeys: map[string]string{keys.AccessKeyID: keys.AccessKeySecret.Reveal()}})
	if err := srv.CreateQueue("q", mns.QueueAttributes{}); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	q, err := queue.Open(queue.Config{Endpoint: ts.URL, Name: "q", Credentials: keys})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if err := q.Send(ctx, []queue.Outgoing{{Body: `{"taskId":"t-1","uniRegionId":"cn-hangzhou"}`}}); err != nil {
			b.Fatal(err)
		}
		msgs, err := q.Receive(ctx, 16, 0)
		if err != nil || len(msgs) != 1 {
			b.Fatal(len(msgs), err)
		}
		if _, err := q.Delete(ctx, msgs[0].Handle); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(srv.Requests()[mns.OpBatchSendMessage]+srv.Requests()[mns.OpBatchReceiveMessage]+srv.Requests()[mns.OpBatchDeleteMessage])/float64(b.N), "requests/op")
}
