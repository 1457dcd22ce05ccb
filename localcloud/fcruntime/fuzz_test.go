package fcruntime

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRuntimeAPI feeds the runtime API arbitrary requests: it answers each
// with a status, completes the known invocation only through its own
// /response or /error path, and never panics.
func FuzzRuntimeAPI(f *testing.F) {
	f.Add("GET", "/2020-11-11/runtime/invocation/next", "")
	f.Add("POST", "/2020-11-11/runtime/invocation/1-known/response", `{"ok":true}`)
	f.Add("POST", "/2020-11-11/runtime/invocation/1-known/error", `{"errorMessage":"x","errorType":"y"}`)
	f.Add("POST", "/2020-11-11/runtime/invocation/1-known/error", `not json`)
	f.Add("POST", "/2020-11-11/runtime/invocation//response", ``)
	f.Add("PUT", "/2020-11-11/runtime/init/error", `{}`)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		req, err := http.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.Path, "/") {
			return
		}
		fn := &Function{closed: make(chan struct{}), freed: make(chan struct{}), recorded: make(chan struct{})}
		inv := newInvocation(fn, []byte(`{}`), 0)
		inv.id = "1-known"
		in := &instance{
			f:        fn,
			work:     make(chan *invocation),
			ready:    make(chan struct{}),
			dead:     make(chan struct{}),
			inflight: map[string]*invocation{inv.id: inv},
			busy:     1,
		}
		fn.instances = []*instance{in}
		inv.host = in
		close(in.dead) // a parked /next returns at once
		rec := httptest.NewRecorder()
		in.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		select {
		case <-inv.done:
			answered := method == http.MethodPost &&
				(req.URL.Path == invocationPath+"1-known/response" || req.URL.Path == invocationPath+"1-known/error")
			if !answered || rec.Code != http.StatusOK {
				t.Fatalf("%s %s (status %d) completed the invocation", method, req.URL.Path, rec.Code)
			}
		default:
			if rec.Code == http.StatusOK {
				t.Fatalf("%s %s: 200 without completing anything", method, req.URL.Path)
			}
		}
	})
}
