// Package slack emulates the parts of Slack that precheckwatch talks to: the
// Web API methods chat.postMessage (with message metadata), chat.update and
// conversations.history, and incoming webhooks. It
// checks what Slack checks (bot token, channel, thread parent, Block Kit
// limits), answers with Slack's status codes and error bodies, injects
// faults, and records every accepted message with its edit history.
//
// It is built from the reference notes and the wire format slack-go sends,
// not from any client code of this project.
package slack

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"precheckwatch/localcloud/fault"
)

// Config describes the workspace the emulator serves.
type Config struct {
	// Tokens are the accepted bot tokens (xoxb-...).
	Tokens []string
	// Channels are the channels that exist.
	Channels []Channel
	// Webhooks are the incoming webhooks that exist.
	Webhooks []Webhook
	// Faults injects throttling (HTTP 429 with Retry-After), server errors
	// (an HTML page with ServerErrorStatus) and hangs. Nil injects none.
	Faults *fault.Injector
	// RetryAfter is the wait a throttled answer announces, sent in whole
	// seconds, rounded up. Default 1s.
	RetryAfter time.Duration
	// OmitRetryAfter sends throttled answers without a Retry-After header.
	OmitRetryAfter bool
	// ServerErrorStatus is the status of an injected server error; default 503.
	ServerErrorStatus int
	// HangAfterPost makes an injected hang happen after the message was
	// posted, so the client loses the answer of a request that succeeded.
	// By default a hang happens before anything is done.
	HangAfterPost bool
	// HangMax bounds an injected hang when the client never gives up; default 30s.
	HangMax time.Duration
	// ChannelRate limits chat.postMessage per channel (messages a second,
	// with ChannelBurst), answering HTTP 429 past it. 0 turns it off.
	ChannelRate  float64
	ChannelBurst int
	// APIPath is where the Web API methods live; default "/api/", so a
	// client's API URL is the server URL + "/api/".
	APIPath string
	// Now is the clock behind message timestamps; default time.Now.
	Now func() time.Time
}

// Channel is a Slack channel.
type Channel struct {
	// ID is what Slack answers with, e.g. "C0123ALERTS".
	ID string
	// Name is accepted as "name" or "#name" wherever an ID is.
	Name string
	// Archived channels refuse posts (is_archived, or 410 for webhooks).
	Archived bool
	// BotAbsent makes Web API posts fail with not_in_channel.
	BotAbsent bool
}

// Webhook is an incoming webhook bound to a channel.
type Webhook struct {
	// Path is "/services/T.../B.../X...".
	Path string
	// Channel is the ID of the channel it posts into.
	Channel string
}

// Message is an accepted message as it currently reads.
type Message struct {
	Channel string
	TS      string
	// ThreadTS is the parent's ts for a thread reply, "" otherwise.
	ThreadTS       string
	ReplyBroadcast bool
	// Webhook is set for messages posted through an incoming webhook.
	Webhook     bool
	Text        string
	Blocks      []Block
	Attachments []Attachment
	// Metadata is the message metadata the poster attached, or nil.
	Metadata *Metadata
	// History holds the earlier versions, oldest first, one per chat.update.
	History []Version
}

// Metadata is a message's metadata: an app-defined event type and payload,
// returned by conversations.history with include_all_metadata.
type Metadata struct {
	EventType    string         `json:"event_type"`
	EventPayload map[string]any `json:"event_payload"`
}

// Version is one earlier state of an updated message.
type Version struct {
	Text        string
	Blocks      []Block
	Attachments []Attachment
}

// Server is the emulator; it is an http.Handler and safe for concurrent use.
type Server struct {
	cfg Config

	mu        sync.Mutex
	messages  []*Message
	lastMicro int64
	limiters  map[string]*rate.Limiter
	requests  int
}

// New returns an emulator serving cfg.
func New(cfg Config) *Server {
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.ServerErrorStatus == 0 {
		cfg.ServerErrorStatus = http.StatusServiceUnavailable
	}
	if cfg.HangMax <= 0 {
		cfg.HangMax = 30 * time.Second
	}
	if cfg.APIPath == "" {
		cfg.APIPath = "/api/"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Faults == nil {
		cfg.Faults = &fault.Injector{}
	}
	return &Server{cfg: cfg, limiters: map[string]*rate.Limiter{}}
}

// maxBody bounds a request body; Slack refuses far smaller messages anyway.
const maxBody = 4 << 20

// ServeHTTP answers Web API calls under Config.APIPath and incoming webhooks
// under /services/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)

	s.cfg.Faults.Delay(r.Context())
	kind := s.cfg.Faults.Pick()
	switch kind {
	case fault.Throttle:
		s.throttled(w, strings.HasPrefix(r.URL.Path, "/services/"))
		return
	case fault.Server:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(s.cfg.ServerErrorStatus)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><h1>%s</h1><p>Slack is having trouble.</p></body></html>\n",
			s.cfg.ServerErrorStatus, http.StatusText(s.cfg.ServerErrorStatus), http.StatusText(s.cfg.ServerErrorStatus))
		return
	case fault.Hang:
		if !s.cfg.HangAfterPost {
			// Reading the body to its end lets net/http notice the client
			// leaving, which ends r.Context().
			_, _ = io.Copy(io.Discard, r.Body)
			fault.HangUntil(r.Context(), s.cfg.HangMax)
			return
		}
		w = &lostAnswer{header: http.Header{}}
		defer fault.HangUntil(r.Context(), s.cfg.HangMax)
	}

	switch {
	case strings.HasPrefix(r.URL.Path, "/services/"):
		s.webhook(w, r)
	case r.URL.Path == s.cfg.APIPath+"chat.postMessage":
		s.postMessage(w, r)
	case r.URL.Path == s.cfg.APIPath+"chat.update":
		s.update(w, r)
	case r.URL.Path == s.cfg.APIPath+"conversations.history":
		s.history(w, r)
	case strings.HasPrefix(r.URL.Path, s.cfg.APIPath):
		apiError(w, "unknown_method", nil)
	default:
		http.NotFound(w, r)
	}
}

// lostAnswer swallows the answer of a request whose reply an injected hang
// loses after the work was done.
type lostAnswer struct{ header http.Header }

func (l *lostAnswer) Header() http.Header         { return l.header }
func (l *lostAnswer) Write(b []byte) (int, error) { return len(b), nil }
func (l *lostAnswer) WriteHeader(int)             {}

func (s *Server) throttled(w http.ResponseWriter, webhook bool) {
	if !s.cfg.OmitRetryAfter {
		secs := int64(math.Ceil(s.cfg.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if webhook {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "rate_limited")
		return
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
}

// params are the arguments of a chat.* call, from a form or a JSON body.
type params struct {
	token, channel, ts, threadTS string
	text                         *string
	blocks, attachments          json.RawMessage
	metadata                     json.RawMessage
	broadcast                    bool
}

// authorized reads a Web API request's parameters and checks its token,
// answering the error itself when either fails.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) (params, bool) {
	p, code := readParams(r)
	if code == "" {
		code = s.authorize(p.token)
	}
	if code != "" {
		apiError(w, code, nil)
		return p, false
	}
	return p, true
}

// readParams reads a call the way Slack does: form fields (slack-go's way,
// token in the form or an Authorization bearer header) or a JSON body (token
// only in the header). It returns a Slack error code on failure.
func readParams(r *http.Request) (params, string) {
	var p params
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		p.token = strings.TrimPrefix(auth, "Bearer ")
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype == "application/json" {
		var body struct {
			Channel        string          `json:"channel"`
			TS             string          `json:"ts"`
			ThreadTS       string          `json:"thread_ts"`
			Text           *string         `json:"text"`
			Blocks         json.RawMessage `json:"blocks"`
			Attachments    json.RawMessage `json:"attachments"`
			Metadata       json.RawMessage `json:"metadata"`
			ReplyBroadcast bool            `json:"reply_broadcast"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return p, "invalid_json"
		}
		p.channel, p.ts, p.threadTS, p.text = body.Channel, body.TS, body.ThreadTS, body.Text
		p.blocks, p.attachments, p.broadcast = body.Blocks, body.Attachments, body.ReplyBroadcast
		p.metadata = body.Metadata
		return p, ""
	}
	if err := r.ParseForm(); err != nil {
		return p, "invalid_form_data"
	}
	if p.token == "" {
		p.token = r.Form.Get("token")
	}
	p.channel, p.ts, p.threadTS = r.Form.Get("channel"), r.Form.Get("ts"), r.Form.Get("thread_ts")
	if r.Form.Has("text") {
		t := r.Form.Get("text")
		p.text = &t
	}
	if r.Form.Has("blocks") {
		p.blocks = json.RawMessage(r.Form.Get("blocks"))
	}
	if r.Form.Has("attachments") {
		p.attachments = json.RawMessage(r.Form.Get("attachments"))
	}
	if r.Form.Has("metadata") {
		p.metadata = json.RawMessage(r.Form.Get("metadata"))
	}
	p.broadcast, _ = strconv.ParseBool(r.Form.Get("reply_broadcast"))
	return p, ""
}

// content is a checked message body.
type content struct {
	text                  *string
	blocks                []Block
	attachments           []Attachment
	hasBlocks, hasAttachs bool
	truncated             bool
	metadata              *Metadata
}

// maxMetadata bounds a message's metadata. (unverified: Slack documents no
// figure; this one is generous.)
const maxMetadata = 8 << 10

// checkMetadata reads chat.postMessage's metadata argument: JSON with a
// non-empty string event_type and an object event_payload.
func checkMetadata(raw json.RawMessage) (*Metadata, string) {
	if len(raw) == 0 {
		return nil, ""
	}
	if len(raw) > maxMetadata {
		return nil, "metadata_too_large"
	}
	var m struct {
		EventType    *string         `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.EventType == nil || *m.EventType == "" {
		return nil, "invalid_metadata_format"
	}
	var payload map[string]any
	if err := json.Unmarshal(m.EventPayload, &payload); err != nil || payload == nil {
		return nil, "invalid_metadata_format"
	}
	return &Metadata{EventType: *m.EventType, EventPayload: payload}, ""
}

var errTooManyAttachments = errors.New("too many attachments")

// checkContent applies Slack's payload checks and returns the error code
// and the invalid_blocks complaints on failure.
func checkContent(text *string, blocksRaw, attachRaw json.RawMessage) (content, string, []string) {
	var c content
	c.text = text
	errs := &blockError{}
	total := 0
	if len(blocksRaw) > 0 && string(blocksRaw) != "null" {
		if !json.Valid(blocksRaw) {
			return c, "invalid_blocks_format", nil
		}
		var n int
		c.blocks, n = decodeBlocks(blocksRaw, "/blocks", errs)
		c.hasBlocks = true
		total += n
	}
	if len(attachRaw) > 0 && string(attachRaw) != "null" {
		a, n, err := decodeAttachments(attachRaw, errs)
		switch {
		case errors.Is(err, errTooManyAttachments):
			return c, "too_many_attachments", nil
		case err != nil:
			return c, "invalid_attachments", nil
		}
		c.attachments, c.hasAttachs = a, true
		total += n
	}
	if len(errs.problems) > 0 {
		return c, "invalid_blocks", errs.problems
	}
	if total > maxBlocksTextTotal {
		return c, "msg_blocks_too_long", nil
	}
	if text != nil && len([]rune(*text)) > maxMessageText {
		t := string([]rune(*text)[:maxMessageText])
		c.text, c.truncated = &t, true
	}
	return c, "", nil
}

// empty reports whether the content would post nothing (no_text).
func (c content) empty() bool {
	return (c.text == nil || *c.text == "") && len(c.blocks) == 0 && len(c.attachments) == 0
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorized(w, r)
	if !ok {
		return
	}
	ch, code := s.channel(p.channel)
	if code != "" {
		apiError(w, code, nil)
		return
	}
	if !s.allow(ch.ID) {
		s.throttled(w, false)
		return
	}
	c, code, problems := checkContent(p.text, p.blocks, p.attachments)
	if code == "" && c.empty() {
		code = "no_text"
	}
	if code == "" {
		c.metadata, code = checkMetadata(p.metadata)
	}
	if code != "" {
		apiError(w, code, problems)
		return
	}
	m, code := s.record(ch.ID, p.threadTS, p.broadcast, false, c)
	if code != "" {
		apiError(w, code, nil)
		return
	}
	resp := map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "message": messageJSON(m)}
	if c.truncated {
		resp["warning"] = "message_truncated"
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorized(w, r)
	if !ok {
		return
	}
	ch, code := s.channel(p.channel)
	if code != "" {
		apiError(w, code, nil)
		return
	}
	c, code, problems := checkContent(p.text, p.blocks, p.attachments)
	if code == "" && c.text == nil && !c.hasBlocks && !c.hasAttachs {
		code = "no_text"
	}
	if code != "" {
		apiError(w, code, problems)
		return
	}
	s.mu.Lock()
	m := s.find(ch.ID, p.ts)
	switch {
	case m == nil:
		code = "message_not_found"
	case m.Webhook:
		code = "cant_update_message"
	default:
		m.History = append(m.History, Version{Text: m.Text, Blocks: m.Blocks, Attachments: m.Attachments})
		// Fields left out of chat.update keep their value; sent ones replace it.
		if c.text != nil {
			m.Text = *c.text
		}
		if c.hasBlocks {
			m.Blocks = c.blocks
		}
		if c.hasAttachs {
			m.Attachments = c.attachments
		}
	}
	var out Message
	if m != nil {
		out = copyMessage(m)
	}
	s.mu.Unlock()
	if code != "" {
		apiError(w, code, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": out.Channel, "ts": out.TS, "text": out.Text, "message": messageJSON(out)})
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		webhookError(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	hook, status, code := s.findWebhook(r.URL.Path)
	if code != "" {
		webhookError(w, status, code)
		return
	}
	var body struct {
		Text           *string         `json:"text"`
		Blocks         json.RawMessage `json:"blocks"`
		Attachments    json.RawMessage `json:"attachments"`
		ThreadTS       string          `json:"thread_ts"`
		ReplyBroadcast bool            `json:"reply_broadcast"`
	}
	raw, err := webhookPayload(r)
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		webhookError(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	ch, code := s.channel(hook.Channel)
	switch code {
	case "":
	case "is_archived":
		webhookError(w, http.StatusGone, "channel_is_archived")
		return
	case "not_in_channel":
		// A webhook posts into its own channel whatever the bot's membership.
	default:
		webhookError(w, http.StatusNotFound, "channel_not_found")
		return
	}
	c, code, _ := checkContent(body.Text, body.Blocks, body.Attachments)
	if code == "" && c.empty() {
		code = "no_text"
	}
	if code != "" {
		webhookError(w, http.StatusBadRequest, code)
		return
	}
	if _, code := s.record(ch.ID, body.ThreadTS, body.ReplyBroadcast, true, c); code != "" {
		webhookError(w, http.StatusBadRequest, code)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok")
}

// webhookPayload returns the JSON body, or the legacy form field payload=.
func webhookPayload(r *http.Request) ([]byte, error) {
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return []byte(r.PostForm.Get("payload")), nil
	}
	return io.ReadAll(r.Body)
}

// findWebhook resolves a webhook path: an unknown path is no_service (404);
// a known team and bot with the wrong secret part is invalid_token (403).
func (s *Server) findWebhook(path string) (Webhook, int, string) {
	for _, h := range s.cfg.Webhooks {
		if h.Path == path {
			return h, 0, ""
		}
	}
	for _, h := range s.cfg.Webhooks {
		if i := strings.LastIndex(h.Path, "/"); i > 0 && strings.HasPrefix(path, h.Path[:i+1]) {
			return Webhook{}, http.StatusForbidden, "invalid_token"
		}
	}
	return Webhook{}, http.StatusNotFound, "no_service"
}

func (s *Server) authorize(token string) string {
	switch {
	case token == "":
		return "not_authed"
	case !slices.Contains(s.cfg.Tokens, token):
		return "invalid_auth"
	}
	return ""
}

// channel resolves an ID, "name" or "#name" and checks the bot may post.
func (s *Server) channel(ref string) (Channel, string) {
	for _, c := range s.cfg.Channels {
		if ref != "" && (ref == c.ID || ref == c.Name || ref == "#"+c.Name) {
			switch {
			case c.Archived:
				return c, "is_archived"
			case c.BotAbsent:
				return c, "not_in_channel"
			}
			return c, ""
		}
	}
	return Channel{}, "channel_not_found"
}

func (s *Server) allow(channel string) bool {
	if s.cfg.ChannelRate <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.limiters[channel]
	if !ok {
		l = rate.NewLimiter(rate.Limit(s.cfg.ChannelRate), max(s.cfg.ChannelBurst, 1))
		s.limiters[channel] = l
	}
	return l.AllowN(s.cfg.Now(), 1)
}

// record stores an accepted message under a fresh ts. A thread_ts must name
// a top-level message of the channel (invalid_thread_ts otherwise): replies
// to replies are refused so a client that threads wrongly is caught.
func (s *Server) record(channel, threadTS string, broadcast, webhook bool, c content) (Message, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if threadTS != "" {
		parent := s.find(channel, threadTS)
		if parent == nil || parent.ThreadTS != "" {
			return Message{}, "invalid_thread_ts"
		}
	}
	m := &Message{
		Channel: channel, TS: s.nextTS(), ThreadTS: threadTS, ReplyBroadcast: broadcast && threadTS != "",
		Webhook: webhook, Blocks: c.blocks, Attachments: c.attachments, Metadata: c.metadata,
	}
	if c.text != nil {
		m.Text = *c.text
	}
	s.messages = append(s.messages, m)
	return copyMessage(m), ""
}

// nextTS returns a Slack ts, "<unix seconds>.<6 digits>", strictly later
// than every earlier one so none repeats. Callers hold s.mu.
func (s *Server) nextTS() string {
	micro := s.cfg.Now().UnixMicro()
	if micro <= s.lastMicro {
		micro = s.lastMicro + 1
	}
	s.lastMicro = micro
	return fmt.Sprintf("%d.%06d", micro/1e6, micro%1e6)
}

// find returns the message ts of channel; callers hold s.mu.
func (s *Server) find(channel, ts string) *Message {
	if ts == "" {
		return nil
	}
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

// Messages returns every accepted message in posting order, as each reads now.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages))
	for _, m := range s.messages {
		out = append(out, copyMessage(m))
	}
	return out
}

// ChannelMessages returns the messages of one channel (ID or name),
// replies included, in posting order.
func (s *Server) ChannelMessages(channel string) []Message {
	id := channel
	for _, c := range s.cfg.Channels {
		if channel == c.Name || channel == "#"+c.Name {
			id = c.ID
		}
	}
	var out []Message
	for _, m := range s.Messages() {
		if m.Channel == id {
			out = append(out, m)
		}
	}
	return out
}

// Message returns the message ts of channel (an ID), as it reads now.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return copyMessage(m), true
}

// Requests counts the HTTP requests served, faults included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func copyMessage(m *Message) Message {
	out := *m
	out.History = slices.Clone(m.History)
	return out
}

// messageJSON is the message object Slack returns beside ok:true.
func messageJSON(m Message) map[string]any {
	out := map[string]any{"type": "message", "subtype": "bot_message", "bot_id": "B0EMULATOR", "text": m.Text, "ts": m.TS}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.Blocks) > 0 {
		raws := make([]json.RawMessage, len(m.Blocks))
		for i, b := range m.Blocks {
			raws[i] = b.Raw
		}
		out["blocks"] = raws
	}
	if len(m.Attachments) > 0 {
		raws := make([]json.RawMessage, len(m.Attachments))
		for i, a := range m.Attachments {
			raws[i] = a.Raw
		}
		out["attachments"] = raws
	}
	if len(m.History) > 0 {
		out["edited"] = map[string]any{"user": "B0EMULATOR", "ts": m.TS}
	}
	return out
}

// apiError answers a Web API failure: HTTP 200 with ok:false, plus the
// invalid_blocks complaints in errors[] and response_metadata.messages.
func apiError(w http.ResponseWriter, code string, problems []string) {
	resp := map[string]any{"ok": false, "error": code}
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = "[ERROR] " + p
		}
		resp["errors"] = problems
		resp["response_metadata"] = map[string]any{"messages": msgs}
	}
	writeJSON(w, http.StatusOK, resp)
}

func webhookError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// History limits: limit defaults to 100 and may not exceed 999.
const (
	historyDefaultLimit = 100
	historyMaxLimit     = 999
)

// history answers conversations.history: the channel's messages (thread
// replies only when broadcast), newest first, between oldest and latest
// (exclusive unless inclusive), limit at a time with a next_ts cursor, and
// metadata only when include_all_metadata is set. The channel must be an ID,
// as for every conversations.* method.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authorized(w, r)
	if !ok {
		return
	}
	var ch *Channel
	for i, c := range s.cfg.Channels {
		if p.channel != "" && p.channel == c.ID {
			ch = &s.cfg.Channels[i]
		}
	}
	switch {
	case ch == nil:
		apiError(w, "channel_not_found", nil)
		return
	case ch.BotAbsent:
		apiError(w, "not_in_channel", nil)
		return
	}
	form := r.Form
	inclusive := form.Get("inclusive") == "1" || form.Get("inclusive") == "true"
	oldest, ok1 := parseTS(form.Get("oldest"), 0)
	latest, ok2 := parseTS(form.Get("latest"), math.MaxInt64)
	limit := historyDefaultLimit
	if v := form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			apiError(w, "invalid_limit", nil)
			return
		}
		if n > 0 {
			limit = min(n, historyMaxLimit)
		}
	}
	if !ok1 || !ok2 {
		apiError(w, "invalid_ts_oldest", nil)
		return
	}
	// A cursor's page starts below the last message of the previous page.
	below := int64(math.MaxInt64)
	if cur := form.Get("cursor"); cur != "" {
		ts, ok := decodeCursor(cur)
		if !ok {
			apiError(w, "invalid_cursor", nil)
			return
		}
		below = ts
	}
	withMeta := form.Get("include_all_metadata") == "1" || form.Get("include_all_metadata") == "true"

	var picked []Message
	for _, m := range s.Messages() {
		if m.Channel != ch.ID || (m.ThreadTS != "" && !m.ReplyBroadcast) {
			continue
		}
		micro, _ := parseTS(m.TS, 0)
		if micro < oldest || micro > latest || micro >= below || (!inclusive && (micro == oldest || micro == latest)) {
			continue
		}
		picked = append(picked, m)
	}
	slices.Reverse(picked)
	hasMore := len(picked) > limit
	if hasMore {
		picked = picked[:limit]
	}
	msgs := make([]map[string]any, len(picked))
	for i, m := range picked {
		msgs[i] = messageJSON(m)
		if withMeta && m.Metadata != nil {
			msgs[i]["metadata"] = m.Metadata
		}
	}
	resp := map[string]any{"ok": true, "messages": msgs, "has_more": hasMore, "pin_count": 0}
	if hasMore {
		last, _ := parseTS(picked[len(picked)-1].TS, 0)
		resp["response_metadata"] = map[string]any{"next_cursor": encodeCursor(last)}
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseTS reads a Slack ts ("seconds.micros", or whole seconds) as
// microseconds; "" is def.
func parseTS(ts string, def int64) (int64, bool) {
	if ts == "" {
		return def, true
	}
	sec, frac, _ := strings.Cut(ts, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n < 0 || len(frac) > 6 {
		return 0, false
	}
	var micro int64
	if frac != "" {
		f, err := strconv.ParseInt((frac + "000000")[:6], 10, 64)
		if err != nil || f < 0 {
			return 0, false
		}
		micro = f
	}
	return n*1e6 + micro, true
}

// Cursors look like Slack's: base64 of "next_ts:" and the microsecond ts of
// the last message returned.
func encodeCursor(micro int64) string {
	return base64.StdEncoding.EncodeToString([]byte("next_ts:" + strconv.FormatInt(micro, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "next_ts:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}
