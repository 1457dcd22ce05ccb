// Package feishu posts to Feishu / Lark: through a custom group bot's
// webhook (自定义机器人, Bot), signed when the bot has a secret, or through the
// Open Platform's app bot (应用机器人, AppBot), which takes an idempotency key.
// Both post the same interactive cards, paced to their limits, with their
// answers classified.
package feishu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"precheckwatch/config"
	"precheckwatch/failure"
	"precheckwatch/notify"
	"precheckwatch/notify/pace"
	"precheckwatch/secret"
)

// Name is the Feishu sink's name.
const Name = "feishu"

// Limits are the bot's pace: Feishu allows 100 requests a minute and 5 a
// second per custom bot. The windows are a little longer than Feishu's,
// a margin for clocks and transit.
var Limits = []pace.Limit{{N: 5, Per: 1100 * time.Millisecond}, {N: 100, Per: 61 * time.Second}}

// hookPath is the path of every custom bot webhook, before its token.
const hookPath = "/open-apis/bot/v2/hook/"

const (
	timeout = 10 * time.Second
	// throttleWait is how long a refused send waits before the next try:
	// the bot's tightest window is a second.
	throttleWait = time.Second
)

// Answer codes the sink tells apart.
const (
	codeFrequencyLimited = 11232
	codeBadRequest       = 9499
	codeTokenInvalid     = 19001
	codeSignMismatch     = 19021
	codeIPNotAllowed     = 19022
)

// Config configures the Feishu custom-bot sink.
type Config struct {
	// WebhookURL is the bot's webhook, …/open-apis/bot/v2/hook/<token>.
	WebhookURL secret.Value
	// Secret is the bot's signing secret; when set every request is signed.
	Secret secret.Value
	// Renderer says how the messages are written: mentions and language.
	Renderer
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// Pacer paces sends to the bot; default Limits, in the process.
	Pacer pace.Pacer
	// Timeout bounds one request from when the pace lets it go; default
	// notify.SendTimeout.
	Timeout time.Duration
	// Now is the signing clock; default time.Now.
	Now func() time.Time
}

// Bot posts interactive cards through a Feishu custom bot. The bot takes
// no idempotency key and offers no history, so a send whose answer is lost
// is sent again: at least once.
type Bot struct {
	Renderer
	webhook secret.Value
	secret  secret.Value
	client  *http.Client
	pacer   pace.Pacer
	timeout time.Duration
	now     func() time.Time
	scrub   *strings.Replacer
}

// New checks cfg and returns the sink.
func New(cfg Config) (*Bot, error) {
	u, err := url.Parse(cfg.WebhookURL.Reveal())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasPrefix(u.Path, hookPath) || len(u.Path) == len(hookPath) {
		// The URL is the credential: say what is wrong without it.
		return nil, errors.New("feishu: webhook URL must be an http(s) URL like https://open.feishu.cn/open-apis/bot/v2/hook/…")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = notify.SendTimeout
	}
	if cfg.Pacer == nil {
		cfg.Pacer, _ = pace.NewLocal(Limits...) // Limits admit sends
	}
	return &Bot{
		Renderer: cfg.Renderer,
		webhook:  cfg.WebhookURL,
		secret:   cfg.Secret,
		client:   notify.HTTPClient(cfg.HTTPClient, timeout),
		pacer:    cfg.Pacer,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		scrub:    notify.URLScrubber(cfg.WebhookURL.Reveal(), u, cfg.Secret.Reveal()),
	}, nil
}

// Name implements notify.Sink.
func (b *Bot) Name() string { return Name }

// String describes the sink without its URL or secret.
func (b *Bot) String() string { return "feishu bot sink " + secret.RedactURL(b.webhook.Reveal()) }

// Send posts m as an interactive card, signed afresh on each attempt when
// the bot has a secret.
func (b *Bot) Send(ctx context.Context, m notify.Message) notify.Outcome {
	c, ok := m.Content.(Content)
	if !ok {
		return notify.ForeignOutcome(Name, m.Content)
	}
	ctx, cancel, out, ok := notify.Depart(ctx, Name, b.pacer, b.timeout)
	if !ok {
		return out
	}
	defer cancel()
	timestamp, sign := b.signature()
	raw, err := c.wire(timestamp, sign)
	if err != nil {
		return notify.Outcome{Unposted: true, Err: &failure.Error{Service: Name, Op: "send", Class: failure.Permanent, Message: "encode message: " + err.Error()}}
	}
	resp, out, ok := notify.PostJSON(ctx, b.client, b.webhook.Reveal(), Name, raw, b.scrub)
	if !ok {
		return out
	}
	defer resp.Body.Close()
	return b.classify(resp)
}

// signature returns timestamp (Unix seconds) and sign =
// Base64(HMAC-SHA256(key = timestamp+"\n"+secret, message = empty)), the
// custom bot's 签名校验; both "" without a secret.
func (b *Bot) signature() (timestamp, sign string) {
	if !b.secret.Set() {
		return "", ""
	}
	timestamp = strconv.FormatInt(b.now().Unix(), 10)
	return timestamp, notify.SignHMACSHA256(timestamp+"\n"+b.secret.Reveal(), "")
}

// classify reads the bot's answer. Feishu answers HTTP 200 with a code,
// 0 on success; older deployments answer StatusCode instead.
func (b *Bot) classify(resp *http.Response) notify.Outcome {
	var answer struct {
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
	}
	if out, ok := notify.ReadAnswer(Name, resp, &answer); !ok {
		return out
	}
	code := answer.Code
	if code == nil {
		code = answer.StatusCode
	}
	if code == nil {
		return notify.Outcome{Ambiguous: true, Err: &failure.Error{Service: Name, Op: "send", Class: failure.Transient, HTTPStatus: http.StatusOK, Message: "answer without a code"}}
	}
	msg := b.scrub.Replace(answer.Msg)
	out := notify.CodeOutcome(Name, *code, msg)
	if out.Sent() {
		return out
	}
	switch {
	case throttled(*code, msg):
		out.Err.Class, out.Err.RetryAfter = failure.Throttled, throttleWait
	case *code == codeTokenInvalid, *code == codeSignMismatch, *code == codeIPNotAllowed:
		// The webhook's token, its secret or this host's clock or address:
		// every send fails alike until an operator fixes it.
		out.Err.Class = failure.Auth
	}
	return out
}

// throttled recognises a refusal for sending too fast: 11232 ("frequency
// limited"), or a 9499 or other answer whose msg says so. Every other
// code (signature 19021, IP 19022, keyword 19024, token, payload) is the
// configuration's or the payload's, which no retry fixes.
func throttled(code int, msg string) bool {
	if code == codeFrequencyLimited {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "frequency") || strings.Contains(m, "too many request") || strings.Contains(m, "rate limit") ||
		(code == codeBadRequest && strings.Contains(m, "limit"))
}

// FromConfig is the Feishu sink cfg configures, a custom bot or an app
// bot; nil when Feishu is off.
func FromConfig(cfg config.Config, w notify.Wiring) (notify.Sink, error) {
	if cfg.FeishuAppBot() {
		return appFromConfig(cfg, w)
	}
	if !cfg.FeishuWebhookURL.Set() {
		return nil, nil
	}
	p, err := w.Pacers.Pacer(Name, cfg.FeishuWebhookURL.Reveal(), Limits...)
	if err != nil {
		return nil, fmt.Errorf("FEISHU_WEBHOOK_URL: %w", err)
	}
	s, err := New(Config{WebhookURL: cfg.FeishuWebhookURL, Secret: cfg.FeishuSecret,
		Renderer:   Renderer{AtUserIDs: cfg.FeishuAtUserIDs, Lang: notify.Lang(cfg.FeishuLang)},
		HTTPClient: w.HTTPClient, Pacer: p})
	if err != nil {
		return nil, fmt.Errorf("FEISHU_WEBHOOK_URL: %w", err)
	}
	return s, nil
}

func appFromConfig(cfg config.Config, w notify.Wiring) (notify.Sink, error) {
	// One chat's pace, whichever app posts to it.
	p, err := w.Pacers.Pacer(Name, cfg.FeishuChatID, AppLimits...)
	if err != nil {
		return nil, fmt.Errorf("FEISHU_CHAT_ID: %w", err)
	}
	s, err := NewApp(AppConfig{AppID: cfg.FeishuAppID, AppSecret: cfg.FeishuAppSecret, ChatID: cfg.FeishuChatID, APIURL: cfg.FeishuAPIURL,
		Renderer:   Renderer{AtUserIDs: cfg.FeishuAtUserIDs, Lang: notify.Lang(cfg.FeishuLang)},
		HTTPClient: w.HTTPClient, Pacer: p})
	if err != nil {
		return nil, fmt.Errorf("FEISHU_APP_ID: %w", err)
	}
	return s, nil
}
