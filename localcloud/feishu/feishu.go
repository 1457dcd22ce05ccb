// Package feishu emulates the Feishu / Lark custom group bot (自定义机器人):
// POST /open-apis/bot/v2/hook/<token> with a JSON body, its signature,
// keyword, IP allow-list, size and rate checks, its HTTP 200
// {"code","msg","data"} answers, injected faults, and a record of every
// delivered message. It also emulates the Open Platform's app bot (应用机器人,
// app.go): tenant_access_token issue and expiry, and the message API with
// its uuid dedupe, limits and error answers.
//
// It is built from Feishu's custom bot guide as quoted in the reference
// notes (notify.md §5) and public mirrors of it, not from any client code
// of this project. What no public source states is marked "chosen".
package feishu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"precheckwatch/localcloud/fault"
)

// Codes and messages the emulator answers with.
const (
	CodeOK = 0
	// CodeBadRequest: an unreadable, oversized or malformed body (chosen:
	// Feishu answers 9499 "Bad Request" to malformed requests in public
	// reports; which code an oversized body gets is not published).
	CodeBadRequest = 9499
	// CodeTokenInvalid: no bot has this webhook token (chosen).
	CodeTokenInvalid = 19001
	// CodeSignMismatch: the signature does not match or its timestamp is
	// more than an hour from Feishu's clock; one code for both.
	CodeSignMismatch = 19021
	// CodeIPNotAllowed: the caller is not in the bot's IP allow-list.
	CodeIPNotAllowed = 19022
	// CodeKeywordMissing: the message holds none of the bot's keywords.
	CodeKeywordMissing = 19024
	// CodeFrequencyLimited: more than the bot's rate (5 a second, 100 a
	// minute).
	CodeFrequencyLimited = 11232
)

// Limits Feishu applies to one custom bot.
const (
	PerSecond = 5
	PerMinute = 100
	// SignWindow is how far a signed timestamp may be from Feishu's clock.
	SignWindow = time.Hour
	// MaxBodyBytes caps a request body: "20 KB".
	MaxBodyBytes = 20 << 10
)

// Config describes the bots the emulator serves.
type Config struct {
	Bots []Bot
	// Apps are the Open Platform's custom apps whose bots post through
	// the message API, and Chats the groups they may post to.
	Apps  []App
	Chats []Chat
	// TokenTTL is how long a tenant_access_token lasts; default two
	// hours, as documented.
	TokenTTL time.Duration
	// Faults injects throttling (11232), server errors (HTTP 500) and
	// hangs. Nil injects none.
	Faults *fault.Injector
	// HangAfterDelivery makes an injected hang happen after the message
	// was delivered, so the client loses the answer of a request that
	// succeeded. By default a hang happens before anything is done.
	HangAfterDelivery bool
	// HangMax bounds an injected hang when the client never gives up;
	// default 30s.
	HangMax time.Duration
	// Now is the emulator's clock (rate windows, signature window);
	// default time.Now.
	Now func() time.Time
}

// Bot is one custom bot in one group.
type Bot struct {
	// Name identifies the bot in the record; default "bot-<n>", n counting
	// from 1 in Config.Bots.
	Name  string
	Token string
	// Secret, when set, requires every request to be signed.
	Secret string
	// Keywords, when set, requires every message to contain one of them.
	Keywords []string
	// AllowedIPs, when set, admits requests from these addresses only.
	AllowedIPs []string
}

// Delivered is a message Feishu delivered to a group.
type Delivered struct {
	// Bot is the custom bot or the app that posted.
	Bot string
	// Chat is the chat_id an app bot posted to; "" for a custom bot's.
	Chat    string
	MsgType string
	// Title is a card's header or a rich-text post's title.
	Title string
	// Text is every text of the message, one piece a line.
	Text string
	// Mentions are the user ids the message @-mentions.
	Mentions []string
	At       time.Time
}

// Server is the emulator; it is an http.Handler and safe for concurrent use.
type Server struct {
	cfg Config

	mu        sync.Mutex
	delivered []Delivered
	bots      map[string]*botState
	requests  int
	apps      map[string]*appState
	chats     map[string]*chatState
	tokens    map[string]tokenState
	// sentUUIDs remembers each app's message uuids for UUIDWindow.
	sentUUIDs map[uuidKey]sentMessage
	issued    int // tokens issued
}

type botState struct {
	Bot
	sent []time.Time // delivery times within the last minute
}

// New returns an emulator serving cfg.
func New(cfg Config) *Server {
	if cfg.Faults == nil {
		cfg.Faults = &fault.Injector{}
	}
	if cfg.HangMax <= 0 {
		cfg.HangMax = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	s := &Server{cfg: cfg, bots: map[string]*botState{}}
	for i, b := range cfg.Bots {
		if b.Name == "" {
			b.Name = "bot-" + strconv.Itoa(i+1)
		}
		s.bots[b.Token] = &botState{Bot: b}
	}
	s.startApps()
	return s
}

// HookPath is the path of a bot's webhook.
const HookPath = "/open-apis/bot/v2/hook/"

// answer is Feishu's reply body. The upper-case fields are the ones Feishu
// keeps "for compatibility with historical logic" on success.
type answer struct {
	Code          int       `json:"code"`
	Msg           string    `json:"msg"`
	Data          struct{}  `json:"data"`
	Extra         *struct{} `json:"Extra,omitempty"`
	StatusCode    *int      `json:"StatusCode,omitempty"`
	StatusMessage string    `json:"StatusMessage,omitempty"`
}

// request is the JSON body of a bot message.
type request struct {
	Timestamp string          `json:"timestamp"`
	Sign      string          `json:"sign"`
	MsgType   string          `json:"msg_type"`
	Content   json.RawMessage `json:"content"`
	Card      json.RawMessage `json:"card"`
}

// ServeHTTP answers the custom bots' POST HookPath<token> and the Open
// Platform's token and message endpoints (app.go). Every answer of a custom
// bot is HTTP 200 with a JSON code, except injected server errors.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(w http.ResponseWriter, r *http.Request)
	throttle := func(w http.ResponseWriter) { reply(w, CodeFrequencyLimited, "frequency limited") }
	switch token, isHook := strings.CutPrefix(r.URL.Path, HookPath); {
	case isHook && token != "" && !strings.Contains(token, "/"):
		serve = func(w http.ResponseWriter, r *http.Request) {
			code, msg := s.send(r, token)
			reply(w, code, msg)
		}
	case r.URL.Path == TokenPath:
		serve, throttle = s.issueToken, apiThrottled
	case r.URL.Path == MessagesPath:
		serve, throttle = s.createMessage, apiThrottled
	default:
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	s.cfg.Faults.Delay(r.Context())
	switch s.cfg.Faults.Pick() {
	case fault.Throttle:
		throttle(w)
		return
	case fault.Server:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case fault.Hang:
		if !s.cfg.HangAfterDelivery {
			fault.HangRequest(r, s.cfg.HangMax)
			return
		}
		w = fault.LostAnswer()
		defer fault.HangUntil(r.Context(), s.cfg.HangMax)
	}
	serve(w, r)
}

// send runs Feishu's checks in order and delivers the message.
func (s *Server) send(r *http.Request, token string) (int, string) {
	s.mu.Lock()
	bot := s.bots[token]
	s.mu.Unlock()
	if bot == nil {
		return CodeTokenInvalid, "param invalid: incoming webhook access token invalid"
	}
	if r.Method != http.MethodPost {
		return CodeBadRequest, "Bad Request"
	}
	if ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ctype != "application/json" {
		return CodeBadRequest, "Bad Request"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil || len(body) > MaxBodyBytes {
		return CodeBadRequest, "Bad Request: request body exceeds 20 KB"
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return CodeBadRequest, "Bad Request"
	}
	if len(bot.AllowedIPs) > 0 {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !slices.Contains(bot.AllowedIPs, host) {
			return CodeIPNotAllowed, "Ip Not Allowed"
		}
	}
	now := s.cfg.Now()
	if bot.Secret != "" && !signed(req, bot.Secret, now) {
		return CodeSignMismatch, "sign match fail or timestamp is not within one hour from current time"
	}
	d, ok := decode(req)
	if !ok {
		return CodeBadRequest, "Bad Request"
	}
	if len(bot.Keywords) > 0 && !containsAny(d.Title+"\n"+d.Text, bot.Keywords) {
		return CodeKeywordMissing, "Key Words Not Found"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	recent := bot.sent[:0]
	for _, t := range bot.sent {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	bot.sent = recent
	lastSecond := 0
	for _, t := range bot.sent {
		if now.Sub(t) < time.Second {
			lastSecond++
		}
	}
	if len(bot.sent) >= PerMinute || lastSecond >= PerSecond {
		return CodeFrequencyLimited, "frequency limited"
	}
	bot.sent = append(bot.sent, now)
	d.Bot, d.At = bot.Name, now
	s.delivered = append(s.delivered, d)
	return CodeOK, "success"
}

// signed checks timestamp (seconds, within SignWindow of now) and sign =
// Base64(HMAC-SHA256(key = timestamp+"\n"+secret, message = empty)).
func signed(req request, secret string, now time.Time) bool {
	sec, err := strconv.ParseInt(req.Timestamp, 10, 64)
	if err != nil {
		return false
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > SignWindow || skew < -SignWindow {
		return false
	}
	mac := hmac.New(sha256.New, []byte(req.Timestamp+"\n"+secret))
	got, err := base64.StdEncoding.DecodeString(req.Sign)
	return err == nil && hmac.Equal(got, mac.Sum(nil))
}

// Mentions as each message type writes them: <at user_id="…"> in text,
// {"tag":"at","user_id":…} in a post, <at id=…></at> in card markdown.
var (
	textAt = regexp.MustCompile(`<at user_id="([^"]+)">`)
	cardAt = regexp.MustCompile(`<at id=([^\s>]+)>`)
)

// decode checks the message of its msg_type and returns what a person in
// the group would see.
func decode(req request) (Delivered, bool) {
	d := Delivered{MsgType: req.MsgType}
	switch req.MsgType {
	case "text":
		var c struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(req.Content, &c) != nil || c.Text == "" {
			return d, false
		}
		d.Text = c.Text
		for _, m := range textAt.FindAllStringSubmatch(c.Text, -1) {
			d.Mentions = append(d.Mentions, m[1])
		}
	case "post":
		var c struct {
			Post map[string]struct {
				Title   string `json:"title"`
				Content [][]struct {
					Tag    string `json:"tag"`
					Text   string `json:"text"`
					UserID string `json:"user_id"`
				} `json:"content"`
			} `json:"post"`
		}
		if json.Unmarshal(req.Content, &c) != nil || len(c.Post) == 0 {
			return d, false
		}
		var lines []string
		for _, lang := range c.Post {
			d.Title = lang.Title
			for _, row := range lang.Content {
				var line []string
				for _, el := range row {
					line = append(line, el.Text)
					if el.Tag == "at" {
						d.Mentions = append(d.Mentions, el.UserID)
					}
				}
				lines = append(lines, strings.Join(line, ""))
			}
			break // one language is what a reader sees
		}
		d.Text = strings.Join(lines, "\n")
	case "interactive":
		var card struct {
			Header struct {
				Title struct {
					Content string `json:"content"`
				} `json:"title"`
			} `json:"header"`
			Elements []json.RawMessage `json:"elements"`
		}
		if json.Unmarshal(req.Card, &card) != nil || (card.Header.Title.Content == "" && len(card.Elements) == 0) {
			return d, false
		}
		d.Title = card.Header.Title.Content
		var texts []string
		for _, el := range card.Elements {
			texts = append(texts, elementTexts(el)...)
		}
		d.Text = strings.Join(texts, "\n")
		for _, m := range cardAt.FindAllStringSubmatch(d.Text, -1) {
			d.Mentions = append(d.Mentions, m[1])
		}
	default:
		return d, false
	}
	return d, true
}

// elementTexts collects the "content" strings of a card element and the
// elements and actions it holds, and the URL of any button, in order.
func elementTexts(raw json.RawMessage) []string {
	var el map[string]json.RawMessage
	if json.Unmarshal(raw, &el) != nil {
		return nil
	}
	var out []string
	var s string
	if json.Unmarshal(el["content"], &s) == nil && s != "" {
		out = append(out, s)
	}
	if t, ok := el["text"]; ok {
		out = append(out, elementTexts(t)...)
	}
	if json.Unmarshal(el["url"], &s) == nil && s != "" {
		out = append(out, s)
	}
	for _, key := range []string{"elements", "actions"} {
		var children []json.RawMessage
		if json.Unmarshal(el[key], &children) == nil {
			for _, c := range children {
				out = append(out, elementTexts(c)...)
			}
		}
	}
	return out
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func reply(w http.ResponseWriter, code int, msg string) {
	a := answer{Code: code, Msg: msg}
	if code == CodeOK {
		zero := 0
		a.Extra, a.StatusCode, a.StatusMessage = nil, &zero, msg
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(a)
}

// Messages returns every delivered message in delivery order.
func (s *Server) Messages() []Delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivered(nil), s.delivered...)
}

// Requests counts the bot API requests served, faults included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// PlainText renders a delivered message as a person in the group would
// read it: the title, then the body, then who was mentioned.
func (d Delivered) PlainText() string {
	var parts []string
	if d.Title != "" {
		parts = append(parts, d.Title)
	}
	parts = append(parts, d.Text)
	if len(d.Mentions) > 0 {
		parts = append(parts, "(mentions @"+strings.Join(d.Mentions, " @")+")")
	}
	return strings.Join(parts, "\n")
}
