package feishu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Open Platform's app bot, as its server API documents it
// (open.feishu.cn/document/server-docs: 自建应用获取 tenant_access_token,
// 发送消息 im/v1/messages, 频控策略) and public mirrors of it. What no public
// source states is marked "chosen".

// Paths of the Open Platform endpoints the emulator serves.
const (
	TokenPath    = "/open-apis/auth/v3/tenant_access_token/internal"
	MessagesPath = "/open-apis/im/v1/messages"
)

// Limits of the app bot.
const (
	// DefaultTokenTTL: "tenant_access_token 的最大有效期是 2 小时".
	DefaultTokenTTL = 2 * time.Hour
	// RenewWithin: asked for a token with less than 30 minutes left, the
	// token endpoint issues a new one, and both stay valid.
	RenewWithin = 30 * time.Minute
	// UUIDWindow: "持有相同uuid的请求1小时内至多成功发送一条消息".
	UUIDWindow = time.Hour
	// MaxUUIDLen: uuid is at most 50 characters.
	MaxUUIDLen = 50
	// MaxCardBodyBytes: "卡片及富文本消息请求体最大不能超过30KB"; text
	// messages may be up to MaxTextBodyBytes.
	MaxCardBodyBytes = 30 << 10
	MaxTextBodyBytes = 150 << 10
	// ChatPerSecond: messages to one group are limited to 5 a second,
	// shared by every bot in it.
	ChatPerSecond = 5
	// AppPerSecond and AppPerMinute: the message API's own limit per app
	// ("1000 次/分钟、50 次/秒").
	AppPerSecond = 50
	AppPerMinute = 1000
)

// Answer codes of the Open Platform. The message API answers each failure
// with an HTTP status of 400, except the rate limit's 429.
const (
	// CodeInvalidParam: the token request is malformed or names no app
	// (chosen: 10003, the platform's "invalid param").
	CodeInvalidParam = 10003
	// CodeAppSecretInvalid: the app secret is wrong (public clients
	// report 10014 "app secret invalid").
	CodeAppSecretInvalid = 10014
	// CodeRateLimited: "request trigger frequency limit", with HTTP 429
	// and x-ogw-ratelimit-reset.
	CodeRateLimited = 99991400
	// CodeAccessTokenMissing: no Authorization: Bearer header.
	CodeAccessTokenMissing = 99991661
	// CodeAccessTokenInvalid: the tenant_access_token is unknown or expired.
	CodeAccessTokenInvalid = 99991663
	// CodeFieldInvalid: a required field is missing or too long (chosen:
	// 99992402 "field validation failed").
	CodeFieldInvalid = 99992402
	// CodeParamInvalid: the request is readable but wrong, such as a
	// receive_id that names no chat, or content that does not match its
	// msg_type.
	CodeParamInvalid = 230001
	// CodeBotNotInChat: the app's bot is not a member of the chat.
	CodeBotNotInChat = 230002
	// CodeChatFrequency: more than ChatPerSecond messages to the chat.
	CodeChatFrequency = 230020
	// CodeContentTooLong: the body is over its msg_type's size.
	CodeContentTooLong = 230025
	// CodeCardInvalid: interactive content that is not a card.
	CodeCardInvalid = 230099
)

// App is a custom app (自建应用) with its bot enabled.
type App struct {
	// Name identifies the app's bot in the record; default "app-<n>".
	Name   string
	ID     string // app_id, cli_…
	Secret string // app_secret
}

// Chat is a group, with the apps whose bots are in it.
type Chat struct {
	ID      string   // chat_id, oc_…
	Members []string // app ids
}

type appState struct {
	App
	requests []time.Time // message API requests within the last minute
	current  string      // the newest token issued
}

type chatState struct {
	Chat
	sent []time.Time // messages delivered within the last second
}

type tokenState struct {
	app     string
	expires time.Time
}

type uuidKey struct{ app, uuid string }

type sentMessage struct {
	data messageData
	at   time.Time
}

func (s *Server) startApps() {
	s.apps, s.chats, s.tokens, s.sentUUIDs = map[string]*appState{}, map[string]*chatState{}, map[string]tokenState{}, map[uuidKey]sentMessage{}
	for i, a := range s.cfg.Apps {
		if a.Name == "" {
			a.Name = "app-" + strconv.Itoa(i+1)
		}
		s.apps[a.ID] = &appState{App: a}
	}
	for _, c := range s.cfg.Chats {
		s.chats[c.ID] = &chatState{Chat: c}
	}
}

// apiAnswer is an Open Platform answer: code, msg and, on failure, the
// error's log_id; on success the message.
type apiAnswer struct {
	Code  int          `json:"code"`
	Msg   string       `json:"msg"`
	Data  *messageData `json:"data,omitempty"`
	Error *struct {
		LogID string `json:"log_id"`
	} `json:"error,omitempty"`
}

// messageData is a sent message as the message API describes it.
type messageData struct {
	MessageID  string `json:"message_id"`
	RootID     string `json:"root_id"`
	ParentID   string `json:"parent_id"`
	MsgType    string `json:"msg_type"`
	CreateTime string `json:"create_time"`
	UpdateTime string `json:"update_time"`
	Deleted    bool   `json:"deleted"`
	Updated    bool   `json:"updated"`
	ChatID     string `json:"chat_id"`
	Sender     struct {
		ID         string `json:"id"`
		IDType     string `json:"id_type"`
		SenderType string `json:"sender_type"`
	} `json:"sender"`
	Body struct {
		Content string `json:"content"`
	} `json:"body"`
}

func apiReply(w http.ResponseWriter, status, code int, msg string) {
	a := apiAnswer{Code: code, Msg: msg}
	if code != 0 {
		a.Error = &struct {
			LogID string `json:"log_id"`
		}{LogID: randomHex(16)}
	}
	writeJSON(w, status, a)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiThrottled is the gateway's rate-limit answer: HTTP 429 with the
// window's size and the seconds until it reopens.
func apiThrottled(w http.ResponseWriter) { rateLimited(w, 1) }

func rateLimited(w http.ResponseWriter, resetSeconds int) {
	w.Header().Set("x-ogw-ratelimit-limit", strconv.Itoa(AppPerSecond))
	w.Header().Set("x-ogw-ratelimit-reset", strconv.Itoa(resetSeconds))
	apiReply(w, http.StatusTooManyRequests, CodeRateLimited, "request trigger frequency limit")
}

func isJSON(r *http.Request) bool {
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ctype == "application/json"
}

// issueToken answers POST TokenPath {"app_id","app_secret"} with
// {"code":0,"msg":"ok","tenant_access_token","expire"}: the app's current
// token while it has RenewWithin or more left, else a new one.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if r.Method != http.MethodPost || !isJSON(r) || err != nil || json.Unmarshal(body, &req) != nil || req.AppID == "" || req.AppSecret == "" {
		apiReply(w, http.StatusBadRequest, CodeInvalidParam, "invalid param")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[req.AppID]
	switch {
	case app == nil:
		apiReply(w, http.StatusBadRequest, CodeInvalidParam, "invalid param: app_id not found")
		return
	case app.Secret != req.AppSecret:
		apiReply(w, http.StatusBadRequest, CodeAppSecretInvalid, "app secret invalid")
		return
	}
	now := s.cfg.Now()
	if t, ok := s.tokens[app.current]; !ok || t.expires.Sub(now) < RenewWithin {
		app.current = "t-" + randomHex(20)
		s.issued++
		s.tokens[app.current] = tokenState{app: app.ID, expires: now.Add(s.cfg.TokenTTL)}
	}
	left := s.tokens[app.current].expires.Sub(now)
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "ok", "tenant_access_token": app.current, "expire": int(left / time.Second)})
}

// messageRequest is the body of POST MessagesPath.
type messageRequest struct {
	ReceiveID string `json:"receive_id"`
	MsgType   string `json:"msg_type"`
	Content   string `json:"content"`
	UUID      string `json:"uuid"`
}

// createMessage answers POST MessagesPath?receive_id_type=chat_id. Its
// checks run in order: token, the app's rate, fields, chat, membership,
// size, content, then the uuid (a repeat within UUIDWindow answers the
// first message and sends nothing; chosen: the repeat is answered as a
// success), then the chat's rate.
func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	fail := func(status, code int, msg string) { apiReply(w, status, code, msg) }
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(bearer) == "" {
		fail(http.StatusBadRequest, CodeAccessTokenMissing, "Missing access token for authorization. Please make a request with token attached.")
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	tok, known := s.tokens[bearer]
	var app *appState
	if known && now.Before(tok.expires) {
		app = s.apps[tok.app]
	}
	limited := app != nil && app.overRate(now)
	s.mu.Unlock()
	switch {
	case app == nil:
		fail(http.StatusBadRequest, CodeAccessTokenInvalid, "Invalid access token for authorization. Please make a request with token attached.")
		return
	case limited:
		rateLimited(w, 1)
		return
	}
	if r.Method != http.MethodPost || !isJSON(r) {
		fail(http.StatusBadRequest, CodeFieldInvalid, "field validation failed")
		return
	}
	if r.URL.Query().Get("receive_id_type") != "chat_id" {
		fail(http.StatusBadRequest, CodeFieldInvalid, "field validation failed: receive_id_type must be open_id, user_id, union_id, email or chat_id; only chat_id is emulated")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxTextBodyBytes+1))
	var req messageRequest
	if err != nil || json.Unmarshal(body, &req) != nil {
		fail(http.StatusBadRequest, CodeFieldInvalid, "field validation failed: the body is not a JSON object")
		return
	}
	if req.ReceiveID == "" || req.MsgType == "" || req.Content == "" || len(req.UUID) > MaxUUIDLen {
		fail(http.StatusBadRequest, CodeFieldInvalid, "field validation failed: receive_id, msg_type and content are required, uuid is at most 50 characters")
		return
	}
	limit := MaxCardBodyBytes
	if req.MsgType == "text" {
		limit = MaxTextBodyBytes
	}
	d, decoded := decodeContent(req)

	s.mu.Lock()
	defer s.mu.Unlock()
	chat := s.chats[req.ReceiveID]
	switch {
	case chat == nil:
		fail(http.StatusBadRequest, CodeParamInvalid, "Your request contains an invalid request parameter, ext=invalid receive_id")
		return
	case !slices.Contains(chat.Members, app.ID):
		fail(http.StatusBadRequest, CodeBotNotInChat, "Bot/User can NOT be out of the chat.")
		return
	case len(body) > limit:
		fail(http.StatusBadRequest, CodeContentTooLong, "The length of the message content reaches its limit.")
		return
	case !decoded && req.MsgType == "interactive":
		fail(http.StatusBadRequest, CodeCardInvalid, "Failed to create card content")
		return
	case !decoded:
		fail(http.StatusBadRequest, CodeParamInvalid, "Your request contains an invalid request parameter, ext=invalid message content")
		return
	}
	key := uuidKey{app: app.ID, uuid: req.UUID}
	if sent, ok := s.sentUUIDs[key]; ok && req.UUID != "" && now.Sub(sent.at) < UUIDWindow {
		writeJSON(w, http.StatusOK, apiAnswer{Code: 0, Msg: "success", Data: &sent.data})
		return
	}
	if chat.overRate(now) {
		fail(http.StatusBadRequest, CodeChatFrequency, "This operation triggers the frequency limit.")
		return
	}
	chat.sent = append(chat.sent, now)
	var data messageData
	data.MessageID = "om_" + randomHex(16)
	data.MsgType, data.ChatID = req.MsgType, chat.ID
	data.CreateTime = strconv.FormatInt(now.UnixMilli(), 10)
	data.UpdateTime = data.CreateTime
	data.Sender.ID, data.Sender.IDType, data.Sender.SenderType = app.ID, "app_id", "app"
	data.Body.Content = req.Content
	if req.UUID != "" {
		s.sentUUIDs[key] = sentMessage{data: data, at: now}
	}
	d.Bot, d.Chat, d.At = app.Name, chat.ID, now
	s.delivered = append(s.delivered, d)
	writeJSON(w, http.StatusOK, apiAnswer{Code: 0, Msg: "success", Data: &data})
}

// decodeContent reads the content string as its msg_type's JSON, as the
// custom bot reads its content or card.
func decodeContent(req messageRequest) (Delivered, bool) {
	raw := json.RawMessage(req.Content)
	if !json.Valid(raw) {
		return Delivered{}, false
	}
	if req.MsgType == "interactive" {
		return decode(request{MsgType: req.MsgType, Card: raw})
	}
	return decode(request{MsgType: req.MsgType, Content: raw})
}

// overRate counts a message API request and reports whether it is over
// the app's limits; s.mu is held.
func (a *appState) overRate(now time.Time) bool {
	a.requests = within(a.requests, now, time.Minute)
	if len(a.requests) >= AppPerMinute || len(within(a.requests, now, time.Second)) >= AppPerSecond {
		return true
	}
	a.requests = append(a.requests, now)
	return false
}

// overRate reports whether the chat had ChatPerSecond messages in the
// last second; s.mu is held.
func (c *chatState) overRate(now time.Time) bool {
	c.sent = within(c.sent, now, time.Second)
	return len(c.sent) >= ChatPerSecond
}

// within returns the times of ts less than d before now.
func within(ts []time.Time, now time.Time, d time.Duration) []time.Time {
	var out []time.Time
	for _, t := range ts {
		if now.Sub(t) < d {
			out = append(out, t)
		}
	}
	return out
}

// RevokeTokens makes every tenant_access_token issued so far invalid, as
// resetting the app secret does.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]tokenState{}
}

// TokensIssued counts the distinct tenant_access_tokens issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails
	return hex.EncodeToString(b)
}
