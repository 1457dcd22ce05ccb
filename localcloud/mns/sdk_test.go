package mns_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	gogaperrors "github.com/gogap/errors"

	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/mns"
)

// These tests drive the emulator with the real SDK. The SDK only accepts an
// endpoint that splits into five pieces on ".", so they use the one-dot
// path prefix of reference §2.5.

type env struct {
	srv    *mns.Server
	faults *fault.Injector
	url    string
}

func newEnv(t *testing.T) env {
	t.Helper()
	faults := fault.New(1)
	srv := mns.New(mns.Config{AccessKeys: map[string]string{"ak": "sk"}, Faults: faults})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return env{srv: srv, faults: faults, url: ts.URL + "/mns.local"}
}

func (e env) client(ak, sk, token string) ali_mns.MNSClient {
	return ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint: e.url, AccessKeyId: ak, AccessKeySecret: sk, Token: token, TimeoutSecond: 10,
	})
}

func (e env) queue(t *testing.T, name string) ali_mns.AliMNSQueue {
	t.Helper()
	c := e.client("ak", "sk", "")
	if err := ali_mns.NewMNSQueueManager(c).CreateSimpleQueue(name); err != nil {
		t.Fatalf("create queue: %v", err)
	}
	return ali_mns.NewMNSQueue(name, c)
}

// receive does one batch receive with buffered channels and exactly one
// positive waitseconds (or none for wait 0), so it can neither deadlock nor
// miss an error.
func receive(q ali_mns.AliMNSQueue, n int32, wait int64) (ali_mns.BatchMessageReceiveResponse, error) {
	resp := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	errs := make(chan error, 1)
	if wait > 0 {
		q.BatchReceiveMessage(resp, errs, n, wait)
	} else {
		q.BatchReceiveMessage(resp, errs, n)
	}
	select {
	case r := <-resp:
		return r, nil
	case err := <-errs:
		return ali_mns.BatchMessageReceiveResponse{}, err
	}
}

// codeOf is the MNS error code an SDK error carries (0 for none).
func codeOf(err error) uint64 {
	if ec, ok := err.(gogaperrors.ErrCode); ok && ec.Namespace() == "MNS" {
		return ec.Code()
	}
	return 0
}

func send(t *testing.T, q ali_mns.AliMNSQueue, body string, delay int64) ali_mns.MessageSendResponse {
	t.Helper()
	r, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: body, DelaySeconds: delay, Priority: 8})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return r
}

func TestCreateQueueStatuses(t *testing.T) {
	e := newEnv(t)
	m := ali_mns.NewMNSQueueManager(e.client("ak", "sk", ""))
	if err := m.CreateSimpleQueue("q"); err != nil {
		t.Fatalf("first create (201): %v", err)
	}
	if err := m.CreateSimpleQueue("q"); !ali_mns.ERR_MNS_QUEUE_ALREADY_EXIST_AND_HAVE_SAME_ATTR.IsEqual(err) {
		t.Fatalf("same attributes (204): %v", err)
	}
	if err := m.CreateQueue("q", 0, 65536, 345600, 60, 0, 2); !ali_mns.ERR_MNS_QUEUE_ALREADY_EXIST.IsEqual(err) {
		t.Fatalf("other attributes (409): %v", err)
	}
	attrs, err := m.GetQueueAttributes("q")
	if err != nil || attrs.QueueName != "q" || attrs.VisibilityTimeout != 30 || attrs.MaxMessageSize != 65536 {
		t.Fatalf("attributes %+v, %v", attrs, err)
	}
	if err := m.DeleteQueue("q"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetQueueAttributes("q"); !ali_mns.ERR_MNS_QUEUE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("deleted queue: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	body := `{"taskId":"t-1","label":"<a & b>"}` + "\n"
	sent := send(t, q, body, 0)
	if sent.MessageId == "" || sent.MessageBodyMD5 == "" || sent.ReceiptHandle != "" || sent.Code != "201" || sent.RequestId == "" {
		t.Fatalf("send response %+v", sent)
	}
	got, err := receive(q, 16, 1)
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("receive %+v, %v", got, err)
	}
	m := got.Messages[0]
	if m.MessageBody != body || m.MessageId != sent.MessageId || m.MessageBodyMD5 != sent.MessageBodyMD5 ||
		m.DequeueCount != 1 || m.Priority != 8 || m.ReceiptHandle == "" || m.FirstDequeueTime == 0 ||
		m.NextVisibleTime-m.FirstDequeueTime != 30000 {
		t.Fatalf("received %+v", m)
	}
	if _, err := receive(q, 16, 0); !ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("invisible message was received again: %v", err)
	}
	if err := q.DeleteMessage(m.ReceiptHandle); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := q.DeleteMessage(m.ReceiptHandle); !ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("second delete: %v", err)
	}
	if st := e.srv.Stats("q"); st != (mns.QueueStats{}) {
		t.Fatalf("stats after delete %+v", st)
	}
	if n := e.srv.Requests()[mns.OpBatchReceiveMessage]; n != 2 {
		t.Fatalf("BatchReceiveMessage requests %d", n)
	}
}

func TestDelayAndVisibility(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	sent := send(t, q, "later", 60)
	if sent.ReceiptHandle == "" {
		t.Fatal("delayed send returned no receipt handle")
	}
	if st := e.srv.Stats("q"); st.Delayed != 1 || st.Active != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := receive(q, 16, 0); !ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("delayed message visible early: %v", err)
	}
	e.srv.Advance(61 * time.Second)
	first, err := receive(q, 16, 0)
	if err != nil || first.Messages[0].DequeueCount != 1 {
		t.Fatalf("after delay: %+v %v", first, err)
	}
	e.srv.Advance(31 * time.Second) // past the 30 s visibility timeout
	second, err := receive(q, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := first.Messages[0], second.Messages[0]
	if b.DequeueCount != 2 || b.ReceiptHandle == a.ReceiptHandle || b.FirstDequeueTime != a.FirstDequeueTime {
		t.Fatalf("redelivery %+v after %+v", b, a)
	}
	if err := q.DeleteMessage(a.ReceiptHandle); !ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("expired handle: %v", err)
	}

	changed, err := q.ChangeMessageVisibility(b.ReceiptHandle, 300)
	if err != nil || changed.ReceiptHandle == "" || changed.ReceiptHandle == b.ReceiptHandle {
		t.Fatalf("change visibility %+v %v", changed, err)
	}
	if _, err := q.ChangeMessageVisibility(b.ReceiptHandle, 10); !ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("superseded handle: %v", err)
	}
	if _, err := q.ChangeMessageVisibility("not-a-handle", 10); !ali_mns.ERR_MNS_RECEIPT_HANDLE_ERROR.IsEqual(err) {
		t.Fatalf("garbled handle: %v", err)
	}
	e.srv.Advance(200 * time.Second)
	if st := e.srv.Stats("q"); st.Inactive != 1 {
		t.Fatalf("visibility was not extended: %+v", st)
	}
	if err := q.DeleteMessage(changed.ReceiptHandle); err != nil {
		t.Fatalf("delete with new handle: %v", err)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	tests := []struct {
		name string
		req  ali_mns.MessageSendRequest
		text string
	}{
		{"priority 0", ali_mns.MessageSendRequest{MessageBody: "x"}, "The value of Priority should between 1 and 16"},
		{"priority 17", ali_mns.MessageSendRequest{MessageBody: "x", Priority: 17}, "Priority"},
		{"oversize", ali_mns.MessageSendRequest{MessageBody: strings.Repeat("x", 65537), Priority: 8}, "MaximumMessageSize"},
		{"delay", ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8, DelaySeconds: 604801}, "DelaySeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := q.SendMessage(tc.req)
			if !ali_mns.ERR_MNS_INVALID_ARGUMENT.IsEqual(err) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if _, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: strings.Repeat("x", 65536), Priority: 8}); err != nil {
		t.Fatalf("64 KB body refused: %v", err)
	}
}

func TestBatches(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	resp, err := q.BatchSendMessage(
		ali_mns.MessageSendRequest{MessageBody: "a", Priority: 8},
		ali_mns.MessageSendRequest{MessageBody: "b", Priority: 0},
		ali_mns.MessageSendRequest{MessageBody: "c", Priority: 1},
	)
	if !ali_mns.ERR_MNS_BATCH_OP_FAIL.IsEqual(err) || len(resp.Messages) != 3 ||
		resp.Messages[1].ErrorCode != "InvalidArgument" || resp.Messages[0].MessageId == "" {
		t.Fatalf("partial batch send %+v %v", resp, err)
	}
	got, err := receive(q, 16, 0)
	if err != nil || len(got.Messages) != 2 || got.Messages[0].MessageBody != "c" {
		t.Fatalf("priority 1 should come first: %+v %v", got, err)
	}
	handles := []string{got.Messages[0].ReceiptHandle, "garbage", got.Messages[1].ReceiptHandle, "1-OTk5OS0xLTE="}
	fail, err := q.BatchDeleteMessage(handles...)
	if !ali_mns.ERR_MNS_BATCH_OP_FAIL.IsEqual(err) || len(fail.FailedMessages) != 2 {
		t.Fatalf("partial delete %+v %v", fail, err)
	}
	codes := map[string]string{}
	for _, f := range fail.FailedMessages {
		codes[f.ReceiptHandle] = f.ErrorCode
	}
	if codes["garbage"] != "ReceiptHandleError" || codes["1-OTk5OS0xLTE="] != "MessageNotExist" {
		t.Fatalf("failure entries %+v", fail.FailedMessages)
	}
	if st := e.srv.Stats("q"); st != (mns.QueueStats{}) {
		t.Fatalf("valid handles were not deleted: %+v", st)
	}
	if _, err := q.BatchSendMessage(make([]ali_mns.MessageSendRequest, 17)...); !ali_mns.ERR_MNS_INVALID_ARGUMENT.IsEqual(err) {
		t.Fatalf("17 messages: %v", err)
	}
	big := strings.Repeat("x", 40000)
	if _, err := q.BatchSendMessage(ali_mns.MessageSendRequest{MessageBody: big, Priority: 8}, ali_mns.MessageSendRequest{MessageBody: big, Priority: 8}); !ali_mns.ERR_MNS_INVALID_ARGUMENT.IsEqual(err) {
		t.Fatalf("80 KB batch: %v", err)
	}
}

func TestLongPoll(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	go func() {
		e.parked(t, "q")
		e.srv.Send("q", "arrived", 0)
	}()
	got, err := receive(q, 16, 10)
	if err != nil || got.Messages[0].MessageBody != "arrived" {
		t.Fatalf("long poll %+v %v", got, err)
	}
	if err := q.DeleteMessage(got.Messages[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := receive(q, 16, 1); !ali_mns.ERR_MNS_MESSAGE_NOT_EXIST.IsEqual(err) {
		t.Fatalf("empty long poll: %v", err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("empty long poll answered after %v, before its 1 s", waited)
	}
	// A delayed message wakes a long poll once Advance makes it visible.
	e.srv.Send("q", "delayed", time.Hour)
	go func() {
		e.parked(t, "q")
		e.srv.Advance(time.Hour)
	}()
	got, err = receive(q, 16, 10)
	if err != nil || len(got.Messages) != 1 || got.Messages[0].MessageBody != "delayed" {
		t.Fatalf("advanced long poll %+v %v", got, err)
	}
}

func TestPeek(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	send(t, q, "p", 0)
	resp := make(chan ali_mns.MessageReceiveResponse, 1)
	errs := make(chan error, 1)
	q.PeekMessage(resp, errs)
	select {
	case m := <-resp:
		if m.MessageBody != "p" || m.ReceiptHandle != "" || m.DequeueCount != 0 {
			t.Fatalf("peek %+v", m)
		}
	case err := <-errs:
		t.Fatal(err)
	}
	if st := e.srv.Stats("q"); st.Active != 1 {
		t.Fatalf("peek changed state: %+v", st)
	}
}

func TestAuthAndFaults(t *testing.T) {
	e := newEnv(t)
	e.queue(t, "q")
	e.srv.AddSTSKey("STS.k", "stssecret", "token-1")
	tests := []struct {
		name           string
		ak, sk, token  string
		throttle, s5xx float64
		want           uint64
	}{
		{"ok", "ak", "sk", "", 0, 0, 0},
		{"wrong secret", "ak", "bad", "", 0, 0, ali_mns.ERR_MNS_SIGNATURE_DOES_NOT_MATCH.New().Code()},
		{"unknown key", "nobody", "sk", "", 0, 0, ali_mns.ERR_MNS_INVALID_ACCESS_KEY_ID.New().Code()},
		{"sts", "STS.k", "stssecret", "token-1", 0, 0, 0},
		{"sts without token", "STS.k", "stssecret", "", 0, 0, ali_mns.ERR_MNS_ACCESS_DENIED.New().Code()},
		{"throttled", "ak", "sk", "", 1, 0, ali_mns.ERR_MNS_QPS_LIMIT_EXCEEDED.New().Code()},
		{"internal error", "ak", "sk", "", 0, 1, ali_mns.ERR_MNS_INTERNAL_ERROR.New().Code()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.faults.Reset()
			e.faults.Set(fault.Throttle, tc.throttle)
			e.faults.Set(fault.Server, tc.s5xx)
			defer e.faults.Reset()
			q := ali_mns.NewMNSQueue("q", e.client(tc.ak, tc.sk, tc.token))
			_, err := q.SendMessage(ali_mns.MessageSendRequest{MessageBody: "x", Priority: 8})
			if got := codeOf(err); got != tc.want {
				t.Fatalf("got code %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}

func TestQueueAttributesAndRetention(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	m := ali_mns.NewMNSQueueManager(e.client("ak", "sk", ""))
	if err := m.SetQueueAttributesWithOptions("q", ali_mns.WithVisibilityTimeout(120), ali_mns.WithMessageRetentionPeriod(600)); err != nil {
		t.Fatalf("set attributes: %v", err)
	}
	send(t, q, "short-lived", 0)
	got, err := receive(q, 1, 0)
	if err != nil || got.Messages[0].NextVisibleTime-got.Messages[0].FirstDequeueTime != 120000 {
		t.Fatalf("visibility timeout not applied: %+v %v", got, err)
	}
	attrs, err := m.GetQueueAttributes("q")
	if err != nil || attrs.VisibilityTimeout != 120 || attrs.InactiveMessages != 1 {
		t.Fatalf("attributes %+v %v", attrs, err)
	}
	e.srv.Advance(601 * time.Second) // past the retention period
	if got := e.srv.Bodies("q"); len(got) != 0 {
		t.Fatalf("expired message kept: %v", got)
	}
}

func TestBatchPeek(t *testing.T) {
	e := newEnv(t)
	q := e.queue(t, "q")
	for _, b := range []string{"a", "b", "c"} {
		send(t, q, b, 0)
	}
	resp := make(chan ali_mns.BatchMessageReceiveResponse, 1)
	errs := make(chan error, 1)
	q.BatchPeekMessage(resp, errs, 2)
	select {
	case r := <-resp:
		if len(r.Messages) != 2 || r.Messages[0].MessageBody != "a" || r.Messages[0].ReceiptHandle != "" {
			t.Fatalf("batch peek %+v", r)
		}
	case err := <-errs:
		t.Fatal(err)
	}
	if st := e.srv.Stats("q"); st.Active != 3 {
		t.Fatalf("peek changed state: %+v", st)
	}
	if n := e.srv.Requests()[mns.OpBatchPeekMessage]; n != 1 {
		t.Fatalf("BatchPeekMessage requests %d", n)
	}
}

// parked waits, for at most 5 s, until a long poll on queue is waiting,
// so what follows it is seen to wake the poll rather than to precede it.
func (e *env) parked(t *testing.T, queue string) {
	if !waitfor.Condition(5*time.Second, func() bool { return e.srv.Polling(queue) > 0 }) {
		t.Errorf("no long poll waits on %s", queue)
	}
}
