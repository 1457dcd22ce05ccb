package dingtalk

import (
	"context"
	"encoding/json"
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

// Name is the DingTalk sink's name.
const Name = "dingtalk"

// Limits are the robot's pace: DingTalk allows "up to 20 chats per minute
// … exceeding 20 chats triggers a 10-minute rate limit"
// (help.dingtalk.io custom-robots-send-group-messages). A window of 18 a
// minute leaves a margin for clocks and transit; a burst of 18 goes at once.
// Kept by every instance together, the window never meets the limit; a
// throttle that another sender on the robot caused is answered with its
// ten minutes as RetryAfter, which puts the verdict back on the queue.
var Limits = []pace.Limit{{N: 18, Per: time.Minute}}

const (
	// throttleBlock is how long a throttled robot refuses everything.
	throttleBlock = 10 * time.Minute
	timeout       = 10 * time.Second
)

// Config configures the DingTalk custom-robot sink.
type Config struct {
	// WebhookURL is the robot URL with its access_token.
	WebhookURL secret.Value
	// Secret is the robot's signing secret ("SEC..."); when set every
	// request is signed.
	Secret secret.Value
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// Renderer says how the messages are written: mentions and language.
	Renderer
	// Pacer paces sends to the robot; default Limits, in the process.
	Pacer pace.Pacer
	// Timeout bounds one request from when the pace lets it go; default
	// notify.SendTimeout.
	Timeout time.Duration
	// Now is the signing clock; default time.Now.
	Now func() time.Time
}

// Robot posts markdown messages through a DingTalk custom robot. It is a
// notify.Idempotent: DingTalk posts a message sent again under the same
// msgUuid once.
type Robot struct {
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
func New(cfg Config) (*Robot, error) {
	u, err := url.Parse(cfg.WebhookURL.Reveal())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Query().Get("access_token") == "" {
		// The URL is the credential: say what is wrong without it.
		return nil, errors.New("dingtalk: webhook URL must be an http(s) URL with an access_token, like https://oapi.dingtalk.com/robot/send?access_token=…")
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
	pairs := []string{cfg.WebhookURL.Reveal(), secret.RedactURL(cfg.WebhookURL.Reveal()), u.Query().Get("access_token"), secret.Mask}
	if cfg.Secret.Set() {
		pairs = append(pairs, cfg.Secret.Reveal(), secret.Mask)
	}
	return &Robot{
		Renderer: cfg.Renderer,
		webhook:  cfg.WebhookURL,
		secret:   cfg.Secret,
		client:   notify.HTTPClient(cfg.HTTPClient, timeout),
		pacer:    cfg.Pacer,
		timeout:  cfg.Timeout,
		now:      cfg.Now,
		scrub:    strings.NewReplacer(pairs...),
	}, nil
}

// Name implements notify.Sink.
func (d *Robot) Name() string { return Name }

// String describes the sink without its URL or secret.
func (d *Robot) String() string {
	return "dingtalk robot sink " + secret.RedactURL(d.webhook.Reveal())
}

// markdownBody is the robot's markdown message body (reference §2.1).
type markdownBody struct {
	MsgType  string `json:"msgtype"`
	MsgUUID  string `json:"msgUuid,omitempty"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		AtMobiles []string `json:"atMobiles,omitempty"`
		AtUserIds []string `json:"atUserIds,omitempty"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
}

// Send posts m as a markdown message with msgUuid = m.Key, so a resend
// after an ambiguous failure is delivered once. Each attempt is signed
// afresh.
func (d *Robot) Send(ctx context.Context, m notify.Message) notify.Outcome {
	c, ok := m.Content.(Content)
	if !ok {
		return notify.ForeignOutcome(Name, m.Content)
	}
	ctx, cancel, out, ok := notify.Depart(ctx, Name, d.pacer, d.timeout)
	if !ok {
		return out
	}
	defer cancel()
	var body markdownBody
	body.MsgType, body.MsgUUID = "markdown", m.Key
	body.Markdown.Title, body.Markdown.Text = c.Title, c.Text
	body.At.AtMobiles, body.At.AtUserIds = c.AtMobiles, c.AtUserIds
	raw, err := json.Marshal(body)
	if err != nil {
		return notify.Outcome{Unposted: true, Err: &failure.Error{Service: Name, Op: "send", Class: failure.Permanent, Message: "encode message: " + err.Error()}}
	}
	resp, out, ok := notify.PostJSON(ctx, d.client, d.signedURL(), Name, raw, d.scrub)
	if !ok {
		return out
	}
	defer resp.Body.Close()
	return d.classify(resp)
}

// signedURL returns the webhook URL, with timestamp (ms) and sign =
// Base64(HMAC-SHA256(secret, timestamp+"\n"+secret)) when a secret is set
// (reference §2.2). Encode percent-encodes sign exactly once.
func (d *Robot) signedURL() string {
	if !d.secret.Set() {
		return d.webhook.Reveal()
	}
	u, _ := url.Parse(d.webhook.Reveal()) // checked by New
	ts := strconv.FormatInt(d.now().UnixMilli(), 10)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", notify.SignHMACSHA256(d.secret.Reveal(), ts+"\n"+d.secret.Reveal()))
	u.RawQuery = q.Encode()
	return u.String()
}

// classify reads DingTalk's answer. DingTalk answers HTTP 200 even on
// failure, so success is errcode 0 and nothing else (reference §2.3).
func (d *Robot) classify(resp *http.Response) notify.Outcome {
	var answer struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if out, ok := notify.ReadAnswer(Name, resp, &answer); !ok {
		return out
	}
	if answer.ErrCode == nil {
		return notify.UnreadableAnswer(Name)
	}
	code, msg := *answer.ErrCode, d.scrub.Replace(answer.ErrMsg)
	out := notify.CodeOutcome(Name, code, msg)
	if out.Sent() {
		return out
	}
	switch {
	case throttled(code, msg):
		out.Err.Class, out.Err.RetryAfter = failure.Throttled, throttleBlock
	case code == -1:
		// 系统繁忙: transient.
		out.Err.Class = failure.Transient
	case code == 310000 && strings.Contains(msg, "invalid timestamp"):
		// Clock skew or a stale signature: a fresh signature may pass.
		out.Err.Class = failure.Transient
	case code == 300005, code == 310000 && (strings.Contains(msg, "sign not match") || strings.Contains(msg, "whitelist")):
		// The webhook's token, its secret or this host's address: every
		// send fails alike until an operator fixes it.
		out.Err.Class = failure.Auth
	}
	return out
}

// throttled recognises throttling by code or by message: 130101 and
// 410100 (send too fast), 90030 (webhook over limit), or an errmsg saying
// so. "exceed" alone is not enough: a size refusal can say it too.
func throttled(code int, msg string) bool {
	switch code {
	case 130101, 410100, 90030:
		return true
	}
	exceedsRate := strings.Contains(msg, "exceed") && (strings.Contains(msg, "times") || strings.Contains(msg, "minute"))
	return strings.Contains(msg, "too fast") || strings.Contains(msg, "限流") || exceedsRate
}

// FromConfig is the DingTalk sink cfg configures; nil when DingTalk is off.
func FromConfig(cfg config.Config, w notify.Wiring) (notify.Sink, error) {
	if !cfg.DingTalkWebhookURL.Set() {
		return nil, nil
	}
	p, err := w.Pacers.Pacer(Name, cfg.DingTalkWebhookURL.Reveal(), Limits...)
	if err != nil {
		return nil, fmt.Errorf("DINGTALK_WEBHOOK_URL: %w", err)
	}
	s, err := New(Config{WebhookURL: cfg.DingTalkWebhookURL, Secret: cfg.DingTalkSecret,
		Renderer:   Renderer{AtMobiles: cfg.DingTalkAtMobiles, AtUserIDs: cfg.DingTalkAtUserIDs, Lang: notify.Lang(cfg.DingTalkLang)},
		HTTPClient: w.HTTPClient, Pacer: p})
	if err != nil {
		return nil, fmt.Errorf("DINGTALK_WEBHOOK_URL: %w", err)
	}
	return s, nil
}
