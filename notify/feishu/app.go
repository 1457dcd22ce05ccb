package feishu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"precheckwatch/config"
	"precheckwatch/failure"
	"precheckwatch/notify"
	"precheckwatch/notify/pace"
	"precheckwatch/secret"
)

// The Open Platform's app bot (应用机器人) posts through the server API: a
// tenant_access_token from the app's id and secret, then
// POST /open-apis/im/v1/messages with the card as its content. Its uuid
// field makes a repeated send safe: "持有相同uuid的请求1小时内至多成功发送一条消息".

// DefaultAPIURL is Feishu's Open Platform; Lark's is https://open.larksuite.com.
const DefaultAPIURL = config.DefaultFeishuAPIURL

// AppLimits are the app bot's pace in one chat: "向同一群组发送消息的限频为群内
// 机器人共享 5 QPS", the window a little longer for clocks and transit. The
// message API's own 50 a second per app is never reached by one chat.
var AppLimits = []pace.Limit{{N: 5, Per: 1100 * time.Millisecond}}

const (
	tokenPath    = "/open-apis/auth/v3/tenant_access_token/internal"
	messagesPath = "/open-apis/im/v1/messages?receive_id_type=chat_id"
	// tokenMargin is how long before its expiry a token is renewed; the
	// token endpoint hands out a new one when less than 30 minutes are left.
	tokenMargin = 5 * time.Minute
	// maxUUIDLen is the most characters of a message's uuid.
	maxUUIDLen = 50
)

// Answer codes the app bot tells apart.
const (
	codeRateLimited        = 99991400 // the API's rate limit, with x-ogw-ratelimit-reset
	codeAccessTokenInvalid = 99991671 // "access token invalid", any kind
	codeTenantTokenInvalid = 99991663 // the tenant_access_token is invalid or expired
	codeChatFrequency      = 230020   // over the chat's 5 a second
	codeNoPermission       = 99991672 // the app lacks a permission (scope)
)

// AppConfig configures the Feishu app-bot sink.
type AppConfig struct {
	// AppID and AppSecret are the custom app's credentials (cli_…).
	AppID     string
	AppSecret secret.Value
	// ChatID is the group the app's bot posts to (oc_…); the bot must be
	// a member.
	ChatID string
	// APIURL is the Open Platform's base URL; default DefaultAPIURL.
	APIURL string
	// Renderer says how the messages are written: mentions and language.
	Renderer
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// Pacer paces sends to the chat; default AppLimits, in the process.
	Pacer pace.Pacer
	// Timeout bounds one request from when it leaves; default
	// notify.SendTimeout.
	Timeout time.Duration
	// Now is the clock of the token's expiry; default time.Now.
	Now func() time.Time
}

// AppBot posts interactive cards through a Feishu app bot. It is a
// notify.Idempotent: every message carries a uuid derived from its key, so
// a repeat of a send whose answer was lost posts nothing new, as long as
// it comes within Feishu's hour.
type AppBot struct {
	Renderer
	appID, chatID string
	appSecret     secret.Value
	api           string // base URL, no trailing slash
	client        *http.Client
	pacer         pace.Pacer
	timeout       time.Duration
	now           func() time.Time

	mu      sync.Mutex // held while a token is fetched, so one goes out
	token   secret.Value
	renewAt time.Time
}

// NewApp checks cfg and returns the sink.
func NewApp(cfg AppConfig) (*AppBot, error) {
	var errs []error
	if cfg.AppID == "" {
		errs = append(errs, errors.New("feishu: app bot needs its app id"))
	}
	if !cfg.AppSecret.Set() {
		errs = append(errs, errors.New("feishu: app bot needs its app secret"))
	}
	if cfg.ChatID == "" {
		errs = append(errs, errors.New("feishu: app bot needs the chat id of its group"))
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("feishu: API URL %q is not an http(s) URL like %s", secret.RedactUserinfo(cfg.APIURL), DefaultAPIURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = notify.SendTimeout
	}
	if cfg.Pacer == nil {
		cfg.Pacer, _ = pace.NewLocal(AppLimits...) // AppLimits admit sends
	}
	cfg.Renderer.app = true
	return &AppBot{
		Renderer:  cfg.Renderer,
		appID:     cfg.AppID,
		chatID:    cfg.ChatID,
		appSecret: cfg.AppSecret,
		api:       strings.TrimRight(cfg.APIURL, "/"),
		client:    notify.HTTPClient(cfg.HTTPClient, timeout),
		pacer:     cfg.Pacer,
		timeout:   cfg.Timeout,
		now:       cfg.Now,
	}, nil
}

// Name implements notify.Sink.
func (b *AppBot) Name() string { return Name }

// String describes the sink without its secret or token.
func (b *AppBot) String() string {
	return "feishu app bot sink " + b.appID + " in chat " + b.chatID + " at " + secret.RedactUserinfo(b.api)
}

// Restore reads back content this sink rendered, kept as JSON.
func (*AppBot) Restore(kept []byte) (notify.Content, error) {
	var c Content
	if err := json.Unmarshal(kept, &c); err != nil {
		return nil, fmt.Errorf("feishu: kept message: %w", err)
	}
	c.app = true
	return c, nil
}

// messageUUID is the uuid a message goes out under: its key when that fits
// Feishu's 50 characters, else "k-" and 40 hex digits of the key's hash;
// "" for a message without a key, which Feishu does not deduplicate.
func messageUUID(key string) string {
	if len(key) <= maxUUIDLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "k-" + hex.EncodeToString(sum[:20])
}

// Send posts m as an interactive card under the uuid of its key. A token
// the API refuses is renewed and the card sent once more at once: the
// refusal posted nothing.
func (b *AppBot) Send(ctx context.Context, m notify.Message) notify.Outcome {
	c, ok := m.Content.(Content)
	if !ok {
		return notify.ForeignOutcome(Name, m.Content)
	}
	raw, err := c.appWire(b.chatID, messageUUID(m.Key))
	if err != nil {
		return notify.Outcome{Unposted: true, Err: &failure.Error{Service: Name, Op: "send", Class: failure.Permanent, Message: "encode message: " + err.Error()}}
	}
	token, out, ok := b.tenantToken(ctx)
	if !ok {
		return out
	}
	sendCtx, cancel, out, ok := notify.Depart(ctx, Name, b.pacer, b.timeout)
	if !ok {
		return out
	}
	defer cancel()
	out, code := b.post(sendCtx, token, raw)
	if code != codeTenantTokenInvalid && code != codeAccessTokenInvalid {
		return out
	}
	b.forget(token)
	if token, out, ok = b.tenantToken(ctx); !ok {
		return out
	}
	out, _ = b.post(sendCtx, token, raw)
	return out
}

// post makes one message request and classifies its answer; code is the
// answer's code, 0 when it has none.
func (b *AppBot) post(ctx context.Context, token secret.Value, raw []byte) (notify.Outcome, int) {
	a, out, ok := b.call(ctx, "send", messagesPath, token, raw)
	if !ok {
		return out, 0
	}
	return b.classify("send", a, token), *a.Code
}

// apiAnswer is the Open Platform's answer: a code, 0 on success, and msg,
// with the HTTP status and headers it came with and its body.
type apiAnswer struct {
	Code  *int   `json:"code"`
	Msg   string `json:"msg"`
	Error struct {
		LogID string `json:"log_id"`
	} `json:"error"`

	status int
	header http.Header
	body   []byte
}

// call makes op, a post of body to path with token as its bearer when
// set, and decodes the JSON answer, which the Open Platform gives with any
// status. When there is none, ok is false and out classifies the failure:
// a transport error, or the status alone (429 throttled, 5xx transient and
// perhaps after a post, any other status permanent).
func (b *AppBot) call(ctx context.Context, op, path string, token secret.Value, body []byte) (a apiAnswer, out notify.Outcome, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.api+path, bytes.NewReader(body))
	if err != nil {
		return a, notify.Outcome{Unposted: true, Err: &failure.Error{Service: Name, Op: op, Class: failure.Permanent, Message: "cannot build the request"}}, false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token.Set() {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return a, notify.TransportOutcome(Name, op, err, b.scrubber(token)), false
	}
	defer resp.Body.Close()
	a.status, a.header = resp.StatusCode, resp.Header
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err == nil && json.Unmarshal(a.body, &a) == nil && a.Code != nil {
		return a, notify.Outcome{}, true
	}
	f := &failure.Error{Service: Name, Op: op, Class: notify.StatusClass(a.status), HTTPStatus: a.status, Message: "answer without a code"}
	switch {
	case err != nil || a.status == http.StatusOK:
		// The request arrived: whether it posted is unknown.
		f.Class = failure.Transient
		return a, notify.Outcome{Ambiguous: true, Err: f}, false
	case a.status >= 500:
		// A gateway's 5xx page may follow a post the API made.
		return a, notify.Outcome{Err: f}, false
	case f.Class == failure.Throttled:
		f.RetryAfter = a.resetAfter()
	}
	return a, notify.Outcome{Unposted: true, Err: f}, false
}

// classify reads an answer with a code to op, made with token. Every
// refusal with a code posted nothing; a server error may have followed a
// post. The chat's and the API's rate limits are throttles with their
// window; a token refused even when fresh, a missing permission
// (99991672) and every refusal of the token endpoint (a wrong app secret,
// 10014) are the credentials'; every other code (bot not in the chat
// 230002, content too long 230025, bad card 230099) is the
// configuration's or the payload's. No retry fixes those.
func (b *AppBot) classify(op string, a apiAnswer, token secret.Value) notify.Outcome {
	if *a.Code == 0 {
		return notify.Outcome{}
	}
	f := &failure.Error{Service: Name, Op: op, Class: failure.Permanent, Code: strconv.Itoa(*a.Code), HTTPStatus: a.status,
		RequestID: a.Error.LogID, Message: b.scrubber(token).Replace(a.Msg)}
	out := notify.Outcome{Unposted: true, Err: f}
	switch code := *a.Code; {
	case code == codeRateLimited:
		f.Class, f.RetryAfter = failure.Throttled, a.resetAfter()
	case code == codeChatFrequency:
		f.Class, f.RetryAfter = failure.Throttled, throttleWait
	case op == "token", code == codeTenantTokenInvalid, code == codeAccessTokenInvalid, code == codeNoPermission:
		f.Class = failure.Auth
	case a.status >= 500:
		f.Class, out.Unposted = failure.Transient, false
	}
	return out
}

// resetAfter is the wait the API asks for after its rate limit:
// x-ogw-ratelimit-reset seconds, else the throttle's second.
func (a apiAnswer) resetAfter() time.Duration {
	if s, err := strconv.Atoi(a.header.Get("x-ogw-ratelimit-reset")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return throttleWait
}

// tenantToken returns the app's tenant_access_token, fetched when there is
// none or it is near its expiry. When none can be had, ok is false and out
// says why; no message was sent.
func (b *AppBot) tenantToken(ctx context.Context) (token secret.Value, out notify.Outcome, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token.Set() && b.now().Before(b.renewAt) {
		return b.token, notify.Outcome{}, true
	}
	body, err := json.Marshal(map[string]string{"app_id": b.appID, "app_secret": b.appSecret.Reveal()})
	if err != nil {
		return "", notify.Outcome{Unposted: true, Err: &failure.Error{Service: Name, Op: "token", Class: failure.Permanent, Message: "cannot encode the request"}}, false
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	a, out, ok := b.call(ctx, "token", tokenPath, "", body)
	var issued struct {
		Token  secret.Value `json:"tenant_access_token"`
		Expire int          `json:"expire"`
	}
	if ok {
		if out = b.classify("token", a, ""); out.Sent() && (json.Unmarshal(a.body, &issued) != nil || !issued.Token.Set() || issued.Expire <= 0) {
			out.Err = &failure.Error{Service: Name, Op: "token", Class: failure.Transient, HTTPStatus: a.status, Message: "answer without a token"}
		}
	}
	if !out.Sent() {
		// A token request posts nothing, whatever became of it.
		out.Ambiguous, out.Unposted = false, true
		return "", out, false
	}
	lifetime := time.Duration(issued.Expire) * time.Second
	b.token, b.renewAt = issued.Token, b.now().Add(lifetime-min(tokenMargin, lifetime/2))
	return b.token, notify.Outcome{}, true
}

// forget drops token, which the API refused, unless a newer one replaced
// it meanwhile.
func (b *AppBot) forget(token secret.Value) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token == token {
		b.token = ""
	}
}

// scrubber hides the app secret and token from answers and errors.
func (b *AppBot) scrubber(token secret.Value) *strings.Replacer {
	pairs := []string{b.appSecret.Reveal(), secret.Mask}
	if token.Set() {
		pairs = append(pairs, token.Reveal(), secret.Mask)
	}
	return strings.NewReplacer(pairs...)
}
