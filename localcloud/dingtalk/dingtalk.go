// Package dingtalk emulates DingTalk's custom group robot (自定义机器人):
// POST /robot/send?access_token=... with its signature, keyword and rate
// checks, its always-HTTP-200 {"errcode","errmsg"} answers, msgUuid dedupe,
// injected faults, and a record of every delivered message.
//
// It is built from the reference notes (§2 of notify.md), not from any client
// code of this project.
package dingtalk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"precheckwatch/localcloud/fault"
)

// Error codes and messages the emulator answers with. Those DingTalk is
// seen to send are quoted from the reference notes; the ones marked
// "chosen" have no public source and are the emulator's own.
const (
	CodeOK = 0
	// CodeBusy: 系统繁忙, the transient server error (injected Server fault).
	CodeBusy = -1
	// CodeMissingParam: a missing access_token, an unreadable JSON body, or
	// a required message field left out (the last two chosen: "缺少参数 <name>").
	CodeMissingParam = 40035
	// CodeInvalidMsgType: msgtype missing or unknown (chosen).
	CodeInvalidMsgType = 40008
	// CodeNeedPost: the request was not a POST.
	CodeNeedPost = 43002
	// CodeBadContentType: the Content-Type was not application/json.
	CodeBadContentType = 43004
	// CodeTokenNotExist: no robot has this access_token.
	CodeTokenNotExist = 300005
	// CodeSecurity: a security setting refused the message; errmsg says
	// which ("sign not match", "invalid timestamp", "keywords not in content").
	CodeSecurity = 310000
	// CodeTooFast: more than 20 messages in a minute; the robot is then
	// blocked for 10 minutes.
	CodeTooFast = 130101
	// CodeTooLong: the body exceeds MaxBodyBytes (chosen; DingTalk
	// publishes no byte cap for this robot).
	CodeTooLong = 460101
)

// Limits DingTalk applies to one robot (reference §2.4).
const (
	PerMinute     = 20
	BlockDuration = 10 * time.Minute
	// SignWindow is how far a signed timestamp may be from DingTalk's clock.
	SignWindow = time.Hour
	// DefaultMaxBodyBytes caps a request body (chosen: 20000 bytes, the
	// figure community sources give; see reference §2.4).
	DefaultMaxBodyBytes = 20000
)

// docLink is the suffix DingTalk appends to security refusals, so clients
// must match errmsg by prefix, not equality.
const docLink = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"

// Config describes the robots the emulator serves.
type Config struct {
	Robots []Robot
	// Faults injects throttling (130101), server errors (-1 系统繁忙, still
	// HTTP 200) and hangs. Nil injects none.
	Faults *fault.Injector
	// HangAfterDelivery makes an injected hang happen after the message
	// was delivered, so the client loses the answer of a request that
	// succeeded. By default a hang happens before anything is done.
	HangAfterDelivery bool
	// HangMax bounds an injected hang when the client never gives up; default 30s.
	HangMax time.Duration
	// MaxBodyBytes caps a request body; default DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Now is the emulator's clock (rate window, throttle block, signature
	// window); default time.Now. A *Clock's Now fits.
	Now func() time.Time
}

// Robot is one custom robot in one group.
type Robot struct {
	// Name identifies the robot in the record; default "robot-<n>", n
	// counting from 1 in Config.Robots.
	Name  string
	Token string
	// Secret, when set ("SEC..."), requires every request to be signed.
	Secret string
	// Keywords, when set, requires every message to contain one of them.
	Keywords []string
}

// Delivered is a message DingTalk delivered to a group.
type Delivered struct {
	Robot   string
	MsgType string
	// Title is a markdown's, actionCard's or link's title ("" for text).
	Title string
	// Text is the text content or markdown body.
	Text      string
	AtMobiles []string
	AtUserIds []string
	IsAtAll   bool
	MsgUUID   string
	At        time.Time
}

// Server is the emulator; it is an http.Handler and safe for concurrent use.
type Server struct {
	cfg Config

	mu        sync.Mutex
	delivered []Delivered
	robots    map[string]*robotState
	requests  int
}

type robotState struct {
	Robot
	sent         []time.Time // delivery times within the last minute
	blockedUntil time.Time
	uuids        map[string]bool
}

// New returns an emulator serving cfg.
func New(cfg Config) *Server {
	if cfg.Faults == nil {
		cfg.Faults = &fault.Injector{}
	}
	if cfg.HangMax <= 0 {
		cfg.HangMax = 30 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, robots: map[string]*robotState{}}
	for i, r := range cfg.Robots {
		if r.Name == "" {
			r.Name = "robot-" + strconv.Itoa(i+1)
		}
		s.robots[r.Token] = &robotState{Robot: r, uuids: map[string]bool{}}
	}
	return s
}

// answer is DingTalk's reply body.
type answer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// request is the JSON body of a robot message.
type request struct {
	MsgType  string                    `json:"msgtype"`
	MsgUUID  string                    `json:"msgUuid"`
	Text     *struct{ Content string } `json:"text"`
	Markdown *struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	ActionCard *struct {
		Title       string `json:"title"`
		Text        string `json:"text"`
		SingleTitle string `json:"singleTitle"`
		SingleURL   string `json:"singleURL"`
		Btns        []struct {
			Title     string `json:"title"`
			ActionURL string `json:"actionURL"`
		} `json:"btns"`
	} `json:"actionCard"`
	Link *struct {
		Title      string `json:"title"`
		Text       string `json:"text"`
		MessageURL string `json:"messageUrl"`
	} `json:"link"`
	At *struct {
		AtMobiles []string `json:"atMobiles"`
		AtUserIds []string `json:"atUserIds"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
}

// ServeHTTP answers POST /robot/send. Every answer is HTTP 200 with a JSON
// errcode, as DingTalk's are, except for paths that are not the robot API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/robot/send" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	s.cfg.Faults.Delay(r.Context())
	switch s.cfg.Faults.Pick() {
	case fault.Throttle:
		reply(w, CodeTooFast, "send too fast, exceed 20 times per minute")
		return
	case fault.Server:
		reply(w, CodeBusy, "系统繁忙")
		return
	case fault.Hang:
		if !s.cfg.HangAfterDelivery {
			fault.HangRequest(r, s.cfg.HangMax)
			return
		}
		w = fault.LostAnswer()
		defer fault.HangUntil(r.Context(), s.cfg.HangMax)
	}
	code, msg := s.send(r)
	reply(w, code, msg)
}

// send runs DingTalk's checks in order and delivers the message.
func (s *Server) send(r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return CodeNeedPost, "需要POST请求"
	}
	token := r.URL.Query().Get("access_token")
	if token == "" {
		return CodeMissingParam, "缺少参数 access_token"
	}
	s.mu.Lock()
	robot := s.robots[token]
	s.mu.Unlock()
	if robot == nil {
		return CodeTokenNotExist, "token is not exist"
	}
	if ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ctype != "application/json" {
		return CodeBadContentType, "无效的HTTP HEADER Content-Type"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.cfg.MaxBodyBytes)+1))
	if err != nil {
		return CodeMissingParam, "缺少参数 json"
	}
	if len(body) > s.cfg.MaxBodyBytes {
		return CodeTooLong, "message too long, exceed " + strconv.Itoa(s.cfg.MaxBodyBytes) + " bytes"
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return CodeMissingParam, "缺少参数 json"
	}
	now := s.cfg.Now()
	if robot.Secret != "" {
		if code, msg := checkSign(r, robot.Secret, now); code != CodeOK {
			return code, msg
		}
	}
	d, code, msg := decode(req)
	if code != CodeOK {
		return code, msg
	}
	if len(robot.Keywords) > 0 && !containsAny(d.Title+"\n"+d.Text, robot.Keywords) {
		return CodeSecurity, "keywords not in content" + docLink
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(robot.blockedUntil) {
		return CodeTooFast, "send too fast, exceed 20 times per minute"
	}
	if req.MsgUUID != "" && robot.uuids[req.MsgUUID] {
		return CodeOK, "ok"
	}
	recent := robot.sent[:0]
	for _, t := range robot.sent {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	robot.sent = recent
	if len(robot.sent) >= PerMinute {
		robot.blockedUntil = now.Add(BlockDuration)
		return CodeTooFast, "send too fast, exceed 20 times per minute"
	}
	robot.sent = append(robot.sent, now)
	if req.MsgUUID != "" {
		robot.uuids[req.MsgUUID] = true
	}
	d.Robot, d.MsgUUID, d.At = robot.Name, req.MsgUUID, now
	s.delivered = append(s.delivered, d)
	return CodeOK, "ok"
}

// checkSign verifies timestamp (ms, within SignWindow of now) and sign =
// Base64(HMAC-SHA256(secret, timestamp+"\n"+secret)), as reference §2.2.
func checkSign(r *http.Request, secret string, now time.Time) (int, string) {
	q := r.URL.Query()
	ms, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return CodeSecurity, "invalid timestamp" + docLink
	}
	if skew := now.Sub(time.UnixMilli(ms)); skew > SignWindow || skew < -SignWindow {
		return CodeSecurity, "invalid timestamp" + docLink
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(q.Get("timestamp") + "\n" + secret))
	got, err := base64.StdEncoding.DecodeString(q.Get("sign"))
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return CodeSecurity, "sign not match" + docLink
	}
	return CodeOK, ""
}

// decode checks the message of its msgtype and returns what would be shown.
func decode(req request) (Delivered, int, string) {
	d := Delivered{MsgType: req.MsgType}
	missing := func(field string) (Delivered, int, string) {
		return d, CodeMissingParam, "缺少参数 " + field
	}
	switch req.MsgType {
	case "text":
		if req.Text == nil || req.Text.Content == "" {
			return missing("text.content")
		}
		d.Text = req.Text.Content
	case "markdown":
		switch {
		case req.Markdown == nil || req.Markdown.Title == "":
			return missing("markdown.title")
		case req.Markdown.Text == "":
			return missing("markdown.text")
		}
		d.Title, d.Text = req.Markdown.Title, req.Markdown.Text
	case "actionCard":
		c := req.ActionCard
		switch {
		case c == nil || c.Title == "":
			return missing("actionCard.title")
		case c.Text == "":
			return missing("actionCard.text")
		case len(c.Btns) == 0 && (c.SingleTitle == "" || c.SingleURL == ""):
			return missing("actionCard.singleTitle")
		}
		for _, b := range c.Btns {
			if b.Title == "" || b.ActionURL == "" {
				return missing("actionCard.btns")
			}
		}
		d.Title, d.Text = c.Title, c.Text
	case "link":
		l := req.Link
		switch {
		case l == nil || l.Title == "":
			return missing("link.title")
		case l.Text == "":
			return missing("link.text")
		case l.MessageURL == "":
			return missing("link.messageUrl")
		}
		d.Title, d.Text = l.Title, l.Text
	default:
		return d, CodeInvalidMsgType, "invalid msgtype"
	}
	// DingTalk honours @-mentions on text and markdown messages only.
	if req.At != nil && (req.MsgType == "text" || req.MsgType == "markdown") {
		d.AtMobiles, d.AtUserIds, d.IsAtAll = req.At.AtMobiles, req.At.AtUserIds, req.At.IsAtAll
	}
	return d, CodeOK, ""
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
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(answer{ErrCode: code, ErrMsg: msg})
}

// Messages returns every delivered message in delivery order.
func (s *Server) Messages() []Delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivered(nil), s.delivered...)
}

// RobotMessages returns the messages one robot (by name) delivered.
func (s *Server) RobotMessages(name string) []Delivered {
	var out []Delivered
	for _, d := range s.Messages() {
		if d.Robot == name {
			out = append(out, d)
		}
	}
	return out
}

// Requests counts the robot API requests served, faults included.
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
	var at []string
	if d.IsAtAll {
		at = append(at, "@all")
	}
	for _, m := range append(append([]string(nil), d.AtMobiles...), d.AtUserIds...) {
		at = append(at, "@"+m)
	}
	if len(at) > 0 {
		parts = append(parts, "(mentions "+strings.Join(at, " ")+")")
	}
	return strings.Join(parts, "\n")
}
