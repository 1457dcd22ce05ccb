package mns

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"precheckwatch/internal/waitfor"
)

// The test vector of reference §2.2.
func TestSignatureVector(t *testing.T) {
	h := http.Header{}
	h.Set("Content-MD5", "ZDQxZDhjZDk4ZjAwYjIwNGU5ODAwOTk4ZWNmODQyN2U=")
	h.Set("Content-Type", "application/xml")
	h.Set("Date", "Thu, 01 Jan 2026 00:00:00 GMT")
	h.Set("x-mns-version", "2015-06-06")
	resource := "/queues/q1/messages?numOfMessages=16&waitseconds=10"

	want := "GET\nZDQxZDhjZDk4ZjAwYjIwNGU5ODAwOTk4ZWNmODQyN2U=\napplication/xml\nThu, 01 Jan 2026 00:00:00 GMT\nx-mns-version:2015-06-06\n/queues/q1/messages?numOfMessages=16&waitseconds=10"
	if got := stringToSign("GET", h, resource); got != want {
		t.Fatalf("string to sign:\n%q\nwant\n%q", got, want)
	}
	if got := signature("testsecret", want); got != "6Tygl9fMYA45rb4kiG6s21dJmqA=" {
		t.Fatalf("signature %s", got)
	}
	if got := contentMD5(nil); got != "ZDQxZDhjZDk4ZjAwYjIwNGU5ODAwOTk4ZWNmODQyN2U=" {
		t.Fatalf("empty-body Content-MD5 %s", got)
	}

	// The verifier accepts the vector as a whole request, at that date.
	s := New(Config{
		AccessKeys: map[string]string{"testid": "testsecret"},
		Now:        func() time.Time { return time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC) },
	})
	r := httptest.NewRequest("GET", resource, nil)
	r.Header = h.Clone()
	r.Header.Set("Authorization", "MNS testid:6Tygl9fMYA45rb4kiG6s21dJmqA=")
	if err := s.authenticate(r, resource, nil); err != nil {
		t.Fatalf("vector rejected: %v", err)
	}
	r.Header.Set("Authorization", "MNS testid:AAAAl9fMYA45rb4kiG6s21dJmqA=")
	if err := s.authenticate(r, resource, nil); err != errSignatureMismatch {
		t.Fatalf("forged signature: got %v", err)
	}
}

// rawClient signs requests the way the SDK does, so single headers can be
// spoiled on purpose.
type rawClient struct {
	base, id, secret, token string
}

func (c rawClient) signed(t *testing.T, method, target string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, c.base+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-mns-version", apiVersion)
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Content-MD5", contentMD5(body))
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if c.token != "" {
		req.Header.Set("security-token", c.token)
	}
	req.Header.Set("Authorization", "MNS "+c.id+":"+signature(c.secret, stringToSign(method, req.Header, signedResource(target))))
	return req
}

// signedResource drops a one-dot endpoint path prefix, as the SDK signs.
func signedResource(target string) string {
	if i := strings.Index(target[1:], "/"); i >= 0 && strings.Contains(target[1:i+1], ".") {
		return target[i+1:]
	}
	return target
}

func (c rawClient) do(t *testing.T, method, target string, body []byte, mutate func(*http.Request)) (int, errorBody, []byte) {
	t.Helper()
	req := c.signed(t, method, target, body)
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e errorBody
	if resp.StatusCode >= 300 {
		if err := xml.Unmarshal(raw, &e); err != nil && len(raw) > 0 {
			t.Fatalf("error body is not <Error>: %s", raw)
		}
	}
	if resp.Header.Get("x-mns-request-id") == "" || resp.Header.Get("x-mns-version") != apiVersion {
		t.Fatalf("missing x-mns headers: %v", resp.Header)
	}
	return resp.StatusCode, e, raw
}

func TestRequestChecks(t *testing.T) {
	s := New(Config{AccessKeys: map[string]string{"ak": "sk"}})
	s.AddSTSKey("STS.tmp", "stssecret", "tok")
	if err := s.CreateQueue("q", QueueAttributes{}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	good := rawClient{base: ts.URL, id: "ak", secret: "sk"}
	sendBody := []byte("<Message><MessageBody>hi</MessageBody><DelaySeconds>0</DelaySeconds><Priority>8</Priority></Message>")

	tests := []struct {
		name   string
		c      rawClient
		method string
		target string
		body   []byte
		mutate func(*http.Request)
		status int
		code   string
	}{
		{"signed send", good, "POST", "/queues/q/messages", sendBody, nil, 201, ""},
		{"dot prefix", good, "POST", "/mns.local/queues/q/messages", sendBody, nil, 201, ""},
		{"wrong secret", rawClient{ts.URL, "ak", "nope", ""}, "POST", "/queues/q/messages", sendBody, nil, 403, "SignatureDoesNotMatch"},
		{"unknown key", rawClient{ts.URL, "who", "sk", ""}, "POST", "/queues/q/messages", sendBody, nil, 403, "InvalidAccessKeyId"},
		{"sts with token", rawClient{ts.URL, "STS.tmp", "stssecret", "tok"}, "POST", "/queues/q/messages", sendBody, nil, 201, ""},
		{"sts without token", rawClient{ts.URL, "STS.tmp", "stssecret", ""}, "POST", "/queues/q/messages", sendBody, nil, 403, "AccessDenied"},
		{"sts wrong token", rawClient{ts.URL, "STS.tmp", "stssecret", "old"}, "POST", "/queues/q/messages", sendBody, nil, 403, "AccessDenied"},
		{"missing authorization", good, "POST", "/queues/q/messages", sendBody, func(r *http.Request) { r.Header.Del("Authorization") }, 400, "MissingAuthorizationHeader"},
		{"malformed authorization", good, "POST", "/queues/q/messages", sendBody, func(r *http.Request) { r.Header.Set("Authorization", "Basic abc") }, 400, "InvalidAuthorizationHeader"},
		{"missing date", good, "POST", "/queues/q/messages", sendBody, func(r *http.Request) { r.Header.Del("Date") }, 400, "MissingDateHeader"},
		{"old date", good, "GET", "/queues/q", nil, func(r *http.Request) {
			r.Header.Set("Date", time.Now().Add(-20*time.Minute).UTC().Format(http.TimeFormat))
			r.Header.Set("Authorization", "MNS ak:"+signature("sk", stringToSign("GET", r.Header, "/queues/q")))
		}, 408, "TimeExpired"},
		{"missing version", good, "GET", "/queues/q", nil, func(r *http.Request) { r.Header.Del("x-mns-version") }, 400, "MissingVersionHeader"},
		{"rfc1864 content-md5", good, "POST", "/queues/q/messages", sendBody, func(r *http.Request) {
			r.Header.Set("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww==")
			r.Header.Set("Authorization", "MNS ak:"+signature("sk", stringToSign("POST", r.Header, "/queues/q/messages")))
		}, 400, "InvalidDegist"},
		{"trailing slash", good, "POST", "/queues/q/messages", sendBody, func(r *http.Request) { r.URL.Path = "/queues/q/messages/" }, 400, "InvalidRequestURL"},
		{"query is signed as sent", good, "GET", "/queues/q/messages?numOfMessages=2", nil, func(r *http.Request) { r.URL.RawQuery = "numOfMessages=3" }, 403, "SignatureDoesNotMatch"},
		{"priority 0", good, "POST", "/queues/q/messages", []byte("<Message><MessageBody>x</MessageBody><DelaySeconds>0</DelaySeconds><Priority>0</Priority></Message>"), nil, 400, "InvalidArgument"},
		{"delay too long", good, "POST", "/queues/q/messages", []byte("<Message><MessageBody>x</MessageBody><DelaySeconds>604801</DelaySeconds><Priority>8</Priority></Message>"), nil, 400, "InvalidArgument"},
		{"not xml", good, "POST", "/queues/q/messages", []byte("{}"), nil, 400, "MalformedXML"},
		{"xmlns accepted", good, "POST", "/queues/q/messages", []byte(`<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>x</MessageBody></Message>`), nil, 201, ""},
		{"no such queue", good, "POST", "/queues/nope/messages", sendBody, nil, 404, "QueueNotExist"},
		{"bad queue name", good, "GET", "/queues/-x", nil, nil, 400, "InvalidQueueName"},
		{"numOfMessages 17", good, "GET", "/queues/q/messages?numOfMessages=17", nil, nil, 400, "InvalidArgument"},
		{"waitseconds 31", good, "GET", "/queues/q/messages?numOfMessages=1&waitseconds=31", nil, nil, 400, "InvalidArgument"},
		{"garbled handle", good, "DELETE", "/queues/q/messages?ReceiptHandle=garbage", nil, nil, 400, "ReceiptHandleError"},
		{"handle without version", good, "DELETE", "/queues/q/messages?ReceiptHandle=MS05OTktMS0x", nil, nil, 400, "ReceiptHandleError"},
		{"well-formed unknown handle", good, "DELETE", "/queues/q/messages?ReceiptHandle=1-OTk5LTEtMQ%3D%3D", nil, nil, 404, "MessageNotExist"},
		{"visibility missing", good, "PUT", "/queues/q/messages?ReceiptHandle=1-OTk5LTEtMQ%3D%3D", nil, nil, 400, "MissingVisibilityTimeout"},
		{"visibility 0", good, "PUT", "/queues/q/messages?ReceiptHandle=1-OTk5LTEtMQ%3D%3D&VisibilityTimeout=0", nil, nil, 400, "InvalidArgument"},
		{"unknown path", good, "GET", "/topics/t", nil, nil, 400, "InvalidRequestURL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, e, raw := tc.c.do(t, tc.method, tc.target, tc.body, tc.mutate)
			if status != tc.status || e.Code != tc.code {
				t.Fatalf("got %d %q, want %d %q; body %s", status, e.Code, tc.status, tc.code, raw)
			}
			if tc.code != "" && (e.RequestID == "" || !strings.Contains(string(raw), `xmlns="`+namespace+`"`)) {
				t.Fatalf("error body lacks request id or namespace: %s", raw)
			}
		})
	}
	if got := s.Requests()[OpSendMessage]; got < 10 {
		t.Errorf("SendMessage requests counted %d", got)
	}
}

// A long poll whose client disconnects dequeues nothing.
func TestLongPollClientGone(t *testing.T) {
	s := New(Config{AccessKeys: map[string]string{"ak": "sk"}})
	if err := s.CreateQueue("q", QueueAttributes{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.ReceiveWait(ctx, "q", 16, 0, 5*time.Second)
		done <- err
	}()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled wait returned %v", err)
	}
	if _, err := s.Send("q", "later", 0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats("q"); st.Active != 1 {
		t.Fatalf("stats after abandoned poll: %+v", st)
	}

	// Over HTTP: the server sees the disconnect through the request context.
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := rawClient{base: ts.URL, id: "ak", secret: "sk"}
	if _, err := s.Receive("q", 16, 0); err != nil { // empty the queue
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	req := c.signed(t, "GET", "/queues/q/messages?numOfMessages=16&waitseconds=5", nil).WithContext(short)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("long poll on an empty queue answered %d before 5 s", resp.StatusCode)
	}
	waitPolling(t, s, "q", 0) // the server noticed the closed connection
	if _, err := s.Send("q", "after disconnect", 0); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats("q"); st.Active != 1 {
		t.Fatalf("a disconnected long poll took a message: %+v", st)
	}
}

func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/queues/q/messages?numOfMessages=3&waitseconds=0", "")
	f.Add("POST", "/mns.local/queues/q/messages", "<Messages><Message><MessageBody>a</MessageBody></Message></Messages>")
	f.Add("DELETE", "/queues/q/messages", "<ReceiptHandles><ReceiptHandle>1-x</ReceiptHandle></ReceiptHandles>")
	f.Add("PUT", "/queues/q%00/messages?ReceiptHandle=%ZZ", "<Queue><DelaySeconds>x</DelaySeconds></Queue>")
	s := New(Config{AccessKeys: map[string]string{"ak": "sk"}})
	if err := s.CreateQueue("q", QueueAttributes{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n") {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
		r.Method = method
		r.RequestURI = target
		r.Header.Set("x-mns-version", apiVersion)
		r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		r.Header.Set("Content-MD5", contentMD5([]byte(body)))
		r.Header.Set("Authorization", "MNS ak:"+signature("sk", stringToSign(method, r.Header, signedResource(target))))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		r = r.WithContext(ctx)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s -> %d %s", method, target, w.Code, w.Body)
		}
	})
}

// waitPolling waits until n long polls on queue are waiting.
func waitPolling(t *testing.T, s *Server, queue string, n int) {
	t.Helper()
	if !waitfor.Condition(5*time.Second, func() bool { return s.Polling(queue) == n }) {
		t.Fatalf("%d long polls waiting on %s, want %d", s.Polling(queue), queue, n)
	}
}
