// Package mns emulates Alibaba Cloud MNS (Simple Message Queue) queues on
// loopback: the XML REST protocol of API version 2015-06-06 as
// aliyun-mns-go-sdk v1.0.11 speaks it, with the service's signature,
// Content-MD5 and Date checks, limits, error bodies and queue semantics
// (delays, visibility timeouts, receipt handles, DequeueCount, long polls),
// plus injected faults. In-process methods (Send, Receive, Delete, Stats,
// Advance, ...) let the rest of the local cloud use the same queues without
// HTTP.
//
// Serve it with an http.Server whose WriteTimeout exceeds the 30 s long poll
// and whose IdleTimeout exceeds fasthttp's 10 s idle keep-alive, so clients
// never meet a connection closed under them.
package mns

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"precheckwatch/localcloud/fault"
)

// Operation names, the keys of Requests.
const (
	OpCreateQueue             = "CreateQueue"
	OpSetQueueAttributes      = "SetQueueAttributes"
	OpGetQueueAttributes      = "GetQueueAttributes"
	OpDeleteQueue             = "DeleteQueue"
	OpSendMessage             = "SendMessage"
	OpBatchSendMessage        = "BatchSendMessage"
	OpReceiveMessage          = "ReceiveMessage"
	OpBatchReceiveMessage     = "BatchReceiveMessage"
	OpPeekMessage             = "PeekMessage"
	OpBatchPeekMessage        = "BatchPeekMessage"
	OpDeleteMessage           = "DeleteMessage"
	OpBatchDeleteMessage      = "BatchDeleteMessage"
	OpChangeMessageVisibility = "ChangeMessageVisibility"
	OpUnknown                 = "Unknown"
)

// maxRequestBody bounds what a request may upload: 16 messages of 64 KB each
// XML-escaped fit well inside.
const maxRequestBody = 1 << 20

// hangLimit ends an injected hang that no client timeout ended.
const hangLimit = time.Minute

// Config configures a Server.
type Config struct {
	// AccessKeys maps AccessKeyId to AccessKeySecret for long-term keys.
	AccessKeys map[string]string
	// Faults injects throttling, internal errors, hangs and latency; nil
	// injects nothing.
	Faults *fault.Injector
	// Now is the clock; nil means time.Now. Advance moves the queue clock
	// on from it.
	Now func() time.Time
}

// Server is the emulated MNS service. It is an http.Handler and is safe for
// concurrent use.
type Server struct {
	faults *fault.Injector
	clock  func() time.Time

	mu        sync.Mutex
	keys      map[string]accessKey
	queues    map[string]*queue
	offset    time.Duration // sum of Advance calls
	seq       uint64        // last message sequence number
	handleGen uint64        // last receipt handle generation
	idPrefix  uint64        // makes message and request ids differ between servers
	requestN  uint64        // last request number, for x-mns-request-id

	countMu  sync.Mutex
	requests map[string]int
}

// New returns a Server with no queues.
func New(cfg Config) *Server {
	s := &Server{
		faults:   cfg.Faults,
		clock:    cfg.Now,
		keys:     map[string]accessKey{},
		queues:   map[string]*queue{},
		idPrefix: rand.Uint64() >> 8,
		requests: map[string]int{},
	}
	if s.faults == nil {
		s.faults = &fault.Injector{}
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	for id, secret := range cfg.AccessKeys {
		s.keys[id] = accessKey{secret: secret}
	}
	return s
}

func (s *Server) wallClock() time.Time { return s.clock() }

// AddAccessKey accepts a long-term AccessKey from now on.
func (s *Server) AddAccessKey(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id] = accessKey{secret: secret}
}

// AddSTSKey accepts temporary STS keys from now on; their requests must
// carry token in the security-token header.
func (s *Server) AddSTSKey(id, secret, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id] = accessKey{secret: secret, token: token}
}

// Requests reports how many HTTP requests each operation received, rejected
// and faulted ones included.
func (s *Server) Requests() map[string]int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	out := make(map[string]int, len(s.requests))
	for op, n := range s.requests {
		out[op] = n
	}
	return out
}

func (s *Server) count(op string) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.requests[op]++
}

// route is a parsed request target.
type route struct {
	op       string
	queue    string
	resource string // the target as signed: path prefix removed, query kept raw
	query    map[string]string
}

// parseRoute strips an endpoint path prefix of one segment with a dot (the
// "/mns.local" a client needs when its SDK insists on a five-piece endpoint,
// reference §2.5), then names the operation.
func parseRoute(r *http.Request) (route, *Error) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		// Absolute form (a proxy-style request line): keep path and query.
		u, err := url.Parse(target)
		if err != nil {
			return route{op: OpUnknown}, errInvalidRequestURL
		}
		target = u.RequestURI()
	}
	if rest, ok := strings.CutPrefix(target, "/"); ok {
		if seg, after, found := strings.Cut(rest, "/"); found && strings.Contains(seg, ".") {
			target = "/" + after
		}
	}
	rt := route{op: OpUnknown, resource: target, query: map[string]string{}}
	path, rawQuery, _ := strings.Cut(target, "?")
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return rt, newError(http.StatusBadRequest, "InvalidQueryString", "Http request URL contains invalid querystring item \""+rawQuery+"\".")
	}
	for k, v := range values {
		rt.query[strings.ToLower(k)] = v[0]
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "queues" || len(parts) > 3 || (len(parts) == 3 && parts[2] != "messages") {
		return rt, errInvalidRequestURL
	}
	name, err := url.PathUnescape(parts[1])
	if err != nil {
		return rt, errInvalidRequestURL
	}
	rt.queue = name
	_, peek := rt.query["peekonly"]
	_, batch := rt.query["numofmessages"]
	_, handle := rt.query["receipthandle"]
	switch {
	case len(parts) == 2 && r.Method == http.MethodPut && rt.query["metaoverride"] == "true":
		rt.op = OpSetQueueAttributes
	case len(parts) == 2 && r.Method == http.MethodPut:
		rt.op = OpCreateQueue
	case len(parts) == 2 && r.Method == http.MethodGet:
		rt.op = OpGetQueueAttributes
	case len(parts) == 2 && r.Method == http.MethodDelete:
		rt.op = OpDeleteQueue
	case len(parts) == 2:
		return rt, errInvalidRequestURL
	case r.Method == http.MethodPost:
		rt.op = OpSendMessage // BatchSendMessage is told apart by its body
	case r.Method == http.MethodGet && peek && batch:
		rt.op = OpBatchPeekMessage
	case r.Method == http.MethodGet && peek:
		rt.op = OpPeekMessage
	case r.Method == http.MethodGet && batch:
		rt.op = OpBatchReceiveMessage
	case r.Method == http.MethodGet:
		rt.op = OpReceiveMessage
	case r.Method == http.MethodDelete && handle:
		rt.op = OpDeleteMessage
	case r.Method == http.MethodDelete:
		rt.op = OpBatchDeleteMessage
	case r.Method == http.MethodPut:
		rt.op = OpChangeMessageVisibility
	default:
		return rt, errInvalidRequestURL
	}
	return rt, nil
}

// exchange is one request being answered.
type exchange struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	requestID string
}

// ServeHTTP answers one MNS request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{s: s, w: w, r: r, requestID: s.nextRequestID()}
	defer func() {
		// A bad request must never take the emulator down.
		if v := recover(); v != nil {
			x.fail(errInternal)
		}
	}()
	w.Header().Set("x-mns-request-id", x.requestID)
	w.Header().Set("x-mns-version", apiVersion)

	rt, rerr := parseRoute(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		s.count(rt.op)
		x.fail(invalidArgument("The request body is too large."))
		return
	}
	if rt.op == OpSendMessage && isBatch(body) {
		rt.op = OpBatchSendMessage
	}
	s.count(rt.op)

	s.faults.Delay(r.Context())
	switch s.faults.Pick() {
	case fault.Throttle:
		x.fail(errThrottled)
		return
	case fault.Server:
		x.fail(errInternal)
		return
	case fault.Hang:
		fault.HangUntil(r.Context(), hangLimit)
		x.fail(errInternal)
		return
	}

	if rerr != nil {
		x.fail(rerr)
		return
	}
	if aerr := s.authenticate(r, rt.resource, body); aerr != nil {
		x.fail(aerr)
		return
	}
	if qerr := checkQueueName(rt.queue); qerr != nil {
		x.fail(qerr)
		return
	}
	switch rt.op {
	case OpCreateQueue:
		x.createQueue(rt, body)
	case OpSetQueueAttributes:
		x.setQueueAttributes(rt, body)
	case OpGetQueueAttributes:
		x.getQueueAttributes(rt)
	case OpDeleteQueue:
		s.DeleteQueue(rt.queue)
		w.WriteHeader(http.StatusNoContent)
	case OpSendMessage:
		x.sendMessage(rt, body)
	case OpBatchSendMessage:
		x.batchSendMessage(rt, body)
	case OpReceiveMessage, OpBatchReceiveMessage, OpPeekMessage, OpBatchPeekMessage:
		x.receive(rt)
	case OpDeleteMessage:
		x.deleteMessage(rt)
	case OpBatchDeleteMessage:
		x.batchDeleteMessage(rt, body)
	case OpChangeMessageVisibility:
		x.changeVisibility(rt)
	}
}

func (s *Server) nextRequestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requestN++
	return strings.ToUpper(strconv.FormatUint(s.idPrefix, 16) + strconv.FormatUint(s.requestN, 16))
}

// isBatch tells a BatchSendMessage body (<Messages>) from a SendMessage one.
func isBatch(body []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local == "Messages"
		}
	}
}

func (x *exchange) reply(status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		x.w.WriteHeader(http.StatusInternalServerError)
		return
	}
	x.w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	x.w.WriteHeader(status)
	x.w.Write([]byte(xml.Header))
	x.w.Write(out)
}

func (x *exchange) fail(e *Error) {
	if x.r.Context().Err() != nil {
		return // nobody is listening
	}
	x.reply(e.Status, errorBody{Xmlns: namespace, Code: e.Code, Message: e.Message,
		RequestID: x.requestID, HostID: "http://" + x.r.Host})
}

// failErr answers an in-process error, which is an *Error unless the client
// went away.
func (x *exchange) failErr(err error) {
	var e *Error
	if errors.As(err, &e) {
		x.fail(e)
		return
	}
	if !errors.Is(err, context.Canceled) {
		x.fail(errInternal)
	}
}

func decodeXML(body []byte, v any) *Error {
	if err := xml.Unmarshal(body, v); err != nil {
		return errMalformedXML
	}
	return nil
}

func parseQueueAttributes(body []byte, base QueueAttributes) (QueueAttributes, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return base, nil
	}
	var req queueRequest
	if err := decodeXML(body, &req); err != nil {
		return base, err
	}
	fields := []struct {
		v   *string
		dst *int
	}{
		{req.DelaySeconds, &base.DelaySeconds},
		{req.MaximumMessageSize, &base.MaximumMessageSize},
		{req.MessageRetentionPeriod, &base.MessageRetentionPeriod},
		{req.VisibilityTimeout, &base.VisibilityTimeout},
		{req.PollingWaitSeconds, &base.PollingWaitSeconds},
	}
	for _, f := range fields {
		n, ok := intField(f.v, *f.dst)
		if !ok {
			return base, invalidArgument("Queue attributes must be integers.")
		}
		*f.dst = n
	}
	return base, nil
}

func (x *exchange) createQueue(rt route, body []byte) {
	attrs, err := parseQueueAttributes(body, QueueAttributes{})
	if err != nil {
		x.fail(err)
		return
	}
	created, err := x.s.createQueue(rt.queue, attrs)
	switch {
	case err != nil:
		x.fail(err)
	case created:
		x.w.Header().Set("Location", "http://"+x.r.Host+"/queues/"+rt.queue)
		x.w.WriteHeader(http.StatusCreated)
	default:
		x.w.WriteHeader(http.StatusNoContent)
	}
}

func (x *exchange) setQueueAttributes(rt route, body []byte) {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(rt.queue)
	if err != nil {
		x.fail(err)
		return
	}
	attrs, err := parseQueueAttributes(body, q.attrs)
	if err == nil {
		attrs = attrs.withDefaults()
		err = attrs.validate()
	}
	if err != nil {
		x.fail(err)
		return
	}
	q.attrs = attrs
	q.modified = s.now()
	x.w.WriteHeader(http.StatusNoContent)
}

func (x *exchange) getQueueAttributes(rt route) {
	s := x.s
	s.mu.Lock()
	q, err := s.lookup(rt.queue)
	if err != nil {
		s.mu.Unlock()
		x.fail(err)
		return
	}
	st := s.statsLocked(q)
	b := queueBody{
		Xmlns: namespace, QueueName: q.name,
		CreateTime: q.created.Unix(), LastModifyTime: q.modified.Unix(),
		DelaySeconds: q.attrs.DelaySeconds, MaximumMessageSize: q.attrs.MaximumMessageSize,
		MessageRetentionPeriod: q.attrs.MessageRetentionPeriod, VisibilityTimeout: q.attrs.VisibilityTimeout,
		PollingWaitSeconds: q.attrs.PollingWaitSeconds,
		ActiveMessages:     st.Active, InactiveMessages: st.Inactive, DelayMessages: st.Delayed,
	}
	s.mu.Unlock()
	x.reply(http.StatusOK, b)
}

// parseOutgoing reads one <Message> of a send request.
func parseOutgoing(m sendRequest) (outgoing, *Error) {
	o := outgoing{delay: -1, priority: DefaultPriority}
	if m.MessageBody != nil {
		o.body = *m.MessageBody
	}
	if m.DelaySeconds != nil {
		n, err := strconv.Atoi(strings.TrimSpace(*m.DelaySeconds))
		if err != nil || n < 0 || n > int(MaxDelay/time.Second) {
			return o, errDelayRange
		}
		o.delay = time.Duration(n) * time.Second
	}
	p, ok := intField(m.Priority, DefaultPriority)
	if !ok {
		return o, errPriorityRange
	}
	o.priority = p
	return o, nil
}

func (x *exchange) sendMessage(rt route, body []byte) {
	var req sendRequest
	if err := decodeXML(body, &req); err != nil {
		x.fail(err)
		return
	}
	o, err := parseOutgoing(req)
	if err != nil {
		x.fail(err)
		return
	}
	s := x.s
	s.mu.Lock()
	q, err := s.lookup(rt.queue)
	if err == nil {
		err = s.checkOutgoing(q, o)
	}
	if err != nil {
		s.mu.Unlock()
		x.fail(err)
		return
	}
	m := s.enqueue(q, o)
	out := sentBody{Xmlns: namespace, MessageID: m.id, MessageBodyMD5: m.md5, ReceiptHandle: m.handle}
	s.mu.Unlock()
	x.reply(http.StatusCreated, out)
}

// batchSendMessage enqueues the valid entries and reports the invalid ones
// in place; any failed entry makes the answer non-2xx (status unverified,
// reference §2.3).
func (x *exchange) batchSendMessage(rt route, body []byte) {
	var req batchSendRequest
	if err := decodeXML(body, &req); err != nil {
		x.fail(err)
		return
	}
	if len(req.Messages) == 0 || len(req.Messages) > MaxBatch {
		x.fail(errBatchCount)
		return
	}
	total := 0
	for _, m := range req.Messages {
		if m.MessageBody != nil {
			total += len(*m.MessageBody)
		}
	}
	if total > MaxMessageSize {
		x.fail(errBatchTooLarge)
		return
	}
	s := x.s
	s.mu.Lock()
	q, err := s.lookup(rt.queue)
	if err != nil {
		s.mu.Unlock()
		x.fail(err)
		return
	}
	out := batchSentBody{Xmlns: namespace}
	failed := false
	for _, m := range req.Messages {
		o, err := parseOutgoing(m)
		if err == nil {
			err = s.checkOutgoing(q, o)
		}
		if err != nil {
			failed = true
			out.Messages = append(out.Messages, sentBody{ErrorCode: err.Code, ErrorMessage: err.Message})
			continue
		}
		sent := s.enqueue(q, o)
		out.Messages = append(out.Messages, sentBody{MessageID: sent.id, MessageBodyMD5: sent.md5, ReceiptHandle: sent.handle})
	}
	s.mu.Unlock()
	status := http.StatusCreated
	if failed {
		status = http.StatusBadRequest
	}
	x.reply(status, out)
}

func (x *exchange) receive(rt route) {
	peek := rt.op == OpPeekMessage || rt.op == OpBatchPeekMessage
	batch := rt.op == OpBatchReceiveMessage || rt.op == OpBatchPeekMessage
	n := 1
	if batch {
		v, err := strconv.Atoi(rt.query["numofmessages"])
		if err != nil || v < 1 || v > MaxBatch {
			x.fail(errNumOfMessagesRange)
			return
		}
		n = v
	}
	s := x.s
	s.mu.Lock()
	q, qerr := s.lookup(rt.queue)
	var wait time.Duration
	if q != nil {
		wait = time.Duration(q.attrs.PollingWaitSeconds) * time.Second
	}
	s.mu.Unlock()
	if qerr != nil {
		x.fail(qerr)
		return
	}
	if v, ok := rt.query["waitseconds"]; ok && !peek {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 0 || secs > int(MaxWait/time.Second) {
			x.fail(errWaitSecondsRange)
			return
		}
		wait = time.Duration(secs) * time.Second
	}
	if peek {
		wait = 0
	}
	msgs, err := s.take(x.r.Context(), rt.queue, n, 0, wait, peek)
	if err != nil {
		x.failErr(err)
		return
	}
	if !batch {
		b := toMessageBody(msgs[0])
		b.Xmlns = namespace
		x.reply(http.StatusOK, b)
		return
	}
	out := batchMessageBody{Xmlns: namespace}
	for _, m := range msgs {
		out.Messages = append(out.Messages, toMessageBody(m))
	}
	x.reply(http.StatusOK, out)
}

func (x *exchange) deleteMessage(rt route) {
	handle := rt.query["receipthandle"]
	if handle == "" {
		x.fail(errMissingHandle)
		return
	}
	if err := x.s.Delete(rt.queue, handle); err != nil {
		x.failErr(err)
		return
	}
	x.w.WriteHeader(http.StatusNoContent)
}

// batchDeleteMessage deletes what it can; failures come back as 404 with an
// <Errors> list naming each failed handle (reference §2.3).
func (x *exchange) batchDeleteMessage(rt route, body []byte) {
	var req receiptHandles
	if err := decodeXML(body, &req); err != nil {
		x.fail(err)
		return
	}
	if len(req.Handles) == 0 || len(req.Handles) > MaxBatch {
		x.fail(invalidArgument("The count of receipt handles in a batch request should between 1 and 16"))
		return
	}
	s := x.s
	s.mu.Lock()
	if _, err := s.lookup(rt.queue); err != nil {
		s.mu.Unlock()
		x.fail(err)
		return
	}
	out := deleteFailures{Xmlns: namespace}
	for _, h := range req.Handles {
		if err := s.deleteLocked(rt.queue, h); err != nil {
			out.Errors = append(out.Errors, deleteFailure{ErrorCode: err.Code, ErrorMessage: err.Message, ReceiptHandle: h})
		}
	}
	s.mu.Unlock()
	if len(out.Errors) > 0 {
		x.reply(http.StatusNotFound, out)
		return
	}
	x.w.WriteHeader(http.StatusNoContent)
}

func (x *exchange) changeVisibility(rt route) {
	handle := rt.query["receipthandle"]
	if handle == "" {
		x.fail(errMissingHandle)
		return
	}
	v, ok := rt.query["visibilitytimeout"]
	if !ok {
		x.fail(errMissingVisibility)
		return
	}
	secs, err := strconv.Atoi(v)
	if err != nil || secs < 1 || secs > int(MaxVisibilityTimeout/time.Second) {
		x.fail(errVisibilityRange)
		return
	}
	m, cerr := x.s.ChangeVisibility(rt.queue, handle, time.Duration(secs)*time.Second)
	if cerr != nil {
		x.failErr(cerr)
		return
	}
	x.reply(http.StatusOK, visibilityBody{Xmlns: namespace, ReceiptHandle: m.Handle, NextVisibleTime: m.NextVisibleTime.UnixMilli()})
}
