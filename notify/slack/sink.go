package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	slackapi "github.com/slack-go/slack"

	"precheckwatch/config"
	"precheckwatch/failure"
	"precheckwatch/notify"
	"precheckwatch/notify/pace"
	"precheckwatch/secret"
)

// Name is the sink name of both Slack sinks: a deployment uses one.
const Name = "slack"

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// timeout bounds one Slack request when the caller's HTTP client has none.
const timeout = 10 * time.Second

// BotConfig configures the bot-token sink.
type BotConfig struct {
	Token secret.Value
	// Renderer says how the messages are written: mention and language.
	Renderer
	// Channel is where messages go: an ID ("C0123") or "#name".
	Channel string
	// APIURL is the Web API base, with its trailing slash; default
	// DefaultAPIURL.
	APIURL string
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// Pacer paces posts to the channel; default Limits, in the process.
	Pacer pace.Pacer
}

// Limits are Slack's pace per channel: chat.postMessage "generally allows
// one message per second per channel" (docs.slack.dev rate limits), and so
// does an incoming webhook. A 429 holds the channel for its Retry-After.
var Limits = []pace.Limit{{N: 1, Per: time.Second}}

// Bot posts through the Web API with a bot token: blocks, a coloured
// attachment bar, thread replies, and in-place updates. It is a notify.Searcher and a notify.Updater.
type Bot struct {
	Renderer
	api     *slackapi.Client
	channel string
	pacer   pace.Pacer
	scrub   *strings.Replacer
	// channelID is the channel's ID as posts answer it, for
	// conversations.history, which takes no #name.
	channelID atomic.Pointer[string]
}

// NewBot checks cfg and returns the sink.
func NewBot(cfg BotConfig) (*Bot, error) {
	if !cfg.Token.Set() {
		return nil, errors.New("slack bot: no token")
	}
	if cfg.Channel == "" {
		return nil, errors.New("slack bot: no channel")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/") {
		return nil, fmt.Errorf("slack bot: API URL %q must be an http(s) URL ending in /", cfg.APIURL)
	}
	return &Bot{
		Renderer: cfg.Renderer,
		api: slackapi.New(cfg.Token.Reveal(),
			slackapi.OptionAPIURL(cfg.APIURL),
			slackapi.OptionHTTPClient(notify.HTTPClient(cfg.HTTPClient, timeout))),
		channel: cfg.Channel,
		pacer:   pacerOrDefault(cfg.Pacer),
		scrub:   strings.NewReplacer(cfg.Token.Reveal(), secret.Mask),
	}, nil
}

// Name implements notify.Sink.
func (b *Bot) Name() string { return Name }

// String describes the sink without its token.
func (b *Bot) String() string { return "slack bot sink for " + b.channel }

// Send posts m to the channel, as a reply under m.ThreadOf when set,
// tagged with m.Key as SendCarrying does.
func (b *Bot) Send(ctx context.Context, m notify.Message) notify.Outcome {
	return b.SendCarrying(ctx, m, nil)
}

// EventType is the metadata event type of every message the bot sink
// posts with a key. Its payload names the message's key ("key") and the
// keys of every verdict it carries, space-separated ("carries"), so that
// Find can tell whether a post whose answer was lost went out.
const EventType = "precheck_verdict"

// SendCarrying is Send for a message that carries the verdicts keys (a
// digest); m.Key is always among them.
func (b *Bot) SendCarrying(ctx context.Context, m notify.Message, keys []string) notify.Outcome {
	c, ok := m.Content.(Content)
	if !ok {
		return notify.ForeignOutcome(Name, m.Content)
	}
	ctx, cancel, out, ok := notify.Depart(ctx, Name, b.pacer, notify.SendTimeout)
	if !ok {
		return out
	}
	defer cancel()
	opts := messageOptions(c, false)
	if m.ThreadOf != "" {
		opts = append(opts, slackapi.MsgOptionTS(m.ThreadOf))
		if c.Broadcast {
			opts = append(opts, slackapi.MsgOptionBroadcast())
		}
	}
	if m.Key != "" {
		carries := []string{m.Key}
		for _, k := range keys {
			if k != m.Key {
				carries = append(carries, k)
			}
		}
		opts = append(opts, slackapi.MsgOptionMetadata(slackapi.SlackMetadata{
			EventType:    EventType,
			EventPayload: map[string]any{"key": m.Key, "carries": strings.Join(carries, " ")},
		}))
	}
	channel, ts, err := b.api.PostMessageContext(ctx, b.channel, opts...)
	if err != nil {
		return held(ctx, b.pacer, classify("chat.postMessage", err, b.scrub))
	}
	if channel != "" {
		b.channelID.Store(&channel)
	}
	return notify.Outcome{Channel: channel, Ref: ts}
}

// History search bounds: a page of 200 (Slack's advice for
// conversations.history) and at most findPages pages.
const (
	findPageSize = 200
	findPages    = 10
)

// ErrHistoryTooLong reports that Find read findPages pages of history
// without reaching since: the answer is unknown, not "absent".
var ErrHistoryTooLong = errors.New("slack: too many messages since the attempt to search them all")

// Find looks through the channel's history, newest first back to since,
// for messages posted by this sink carrying any of keys (as their own key or
// among a digest's), in one pass however many keys there are. It returns a
// Sent outcome with the channel ID and ts for each key found, and an error
// when the history could not be read back to since.
func (b *Bot) Find(ctx context.Context, keys []string, since time.Time) (map[string]notify.Outcome, error) {
	channel := b.channel
	if id := b.channelID.Load(); id != nil {
		channel = *id
	}
	if strings.HasPrefix(channel, "#") {
		return nil, fmt.Errorf("slack: cannot search %s by name before a post has named its ID", channel)
	}
	wanted := map[string]bool{}
	for _, k := range keys {
		wanted[k] = true
	}
	found := map[string]notify.Outcome{}
	params := &slackapi.GetConversationHistoryParameters{
		ChannelID: channel, Oldest: tsOf(since), Limit: findPageSize, Inclusive: true, IncludeAllMetadata: true,
	}
	for range findPages {
		resp, err := b.api.GetConversationHistoryContext(ctx, params)
		if err != nil {
			return nil, classify("conversations.history", err, b.scrub).Err
		}
		for _, msg := range resp.Messages {
			for _, k := range carried(msg.Metadata) {
				if _, seen := found[k]; wanted[k] && !seen {
					found[k] = notify.Outcome{Channel: channel, Ref: msg.Timestamp}
				}
			}
		}
		if len(found) == len(wanted) || !resp.HasMore || resp.ResponseMetaData.NextCursor == "" {
			return found, nil
		}
		params.Cursor = resp.ResponseMetaData.NextCursor
	}
	return nil, ErrHistoryTooLong
}

// carried returns the keys that metadata posted by SendCarrying names.
func carried(md slackapi.SlackMetadata) []string {
	if md.EventType != EventType {
		return nil
	}
	keys, _ := md.EventPayload["carries"].(string)
	out := strings.Fields(keys)
	if k, _ := md.EventPayload["key"].(string); k != "" {
		out = append(out, k)
	}
	return out
}

// tsOf formats t as a Slack ts, to the microsecond.
func tsOf(t time.Time) string {
	if t.IsZero() || t.Unix() < 0 {
		return "0"
	}
	micro := t.UnixMicro()
	return fmt.Sprintf("%d.%06d", micro/1e6, micro%1e6)
}

// Update replaces message ts of channel with m: text, blocks and the
// attachment are all replaced, so a stale colour bar does not survive.
func (b *Bot) Update(ctx context.Context, channel, ts string, m notify.Message) notify.Outcome {
	c, ok := m.Content.(Content)
	if !ok {
		return notify.ForeignOutcome(Name, m.Content)
	}
	ctx, cancel, out, ok := notify.Depart(ctx, Name, b.pacer, notify.SendTimeout)
	if !ok {
		return out
	}
	defer cancel()
	ch, newTS, _, err := b.api.UpdateMessageContext(ctx, channel, ts, messageOptions(c, true)...)
	if err != nil {
		return held(ctx, b.pacer, classify("chat.update", err, b.scrub))
	}
	return notify.Outcome{Channel: ch, Ref: newTS}
}

// messageOptions turns content into slack-go options. The text is sent
// unescaped (the Renderer escapes user data and keeps mentions). On update,
// empty blocks and attachments are sent explicitly to clear the old ones.
func messageOptions(c Content, update bool) []slackapi.MsgOption {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(c.Text, false)}
	if len(c.Blocks) > 0 || update {
		opts = append(opts, slackapi.MsgOptionBlocks(c.Blocks...))
	}
	if atts := attachments(c); len(atts) > 0 || update {
		opts = append(opts, slackapi.MsgOptionAttachments(append([]slackapi.Attachment{}, atts...)...))
	}
	return opts
}

// attachments returns the coloured attachment holding c.Detail, if
// c has a colour.
func attachments(c Content) []slackapi.Attachment {
	if c.Color == "" {
		return nil
	}
	return []slackapi.Attachment{{Color: c.Color, Fallback: c.Text, Blocks: slackapi.Blocks{BlockSet: c.Detail}}}
}

// WebhookConfig configures the incoming-webhook sink.
type WebhookConfig struct {
	// Renderer says how the messages are written: mention and language.
	Renderer
	// URL is the webhook URL; its path is the credential.
	URL secret.Value
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// Pacer paces posts; default Limits, in the process.
	Pacer pace.Pacer
}

// Webhook posts through an incoming webhook, used when there is no bot
// token. Webhook posts answer no ts, so they cannot be threaded or updated.
type Webhook struct {
	Renderer
	url    secret.Value
	client *http.Client
	pacer  pace.Pacer
	scrub  *strings.Replacer
}

// NewWebhook checks cfg and returns the sink.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL.Reveal())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(u.Path) <= 1 {
		// The URL is the credential: say what is wrong without it.
		return nil, errors.New("slack webhook: URL must be an http(s) URL with a path, like https://hooks.slackapi.com/services/T…/B…/X…")
	}
	return &Webhook{
		Renderer: cfg.Renderer,
		url:      cfg.URL,
		client:   notify.HTTPClient(cfg.HTTPClient, timeout),
		pacer:    pacerOrDefault(cfg.Pacer),
		scrub:    notify.URLScrubber(cfg.URL.Reveal(), u),
	}, nil
}

// Name implements notify.Sink.
func (w *Webhook) Name() string { return Name }

// String describes the sink without its URL.
func (w *Webhook) String() string {
	return "slack webhook sink " + secret.RedactURL(w.url.Reveal())
}

// Send posts m through the webhook. ThreadOf is ignored: a webhook has no
// ts to thread under.
func (w *Webhook) Send(ctx context.Context, m notify.Message) notify.Outcome {
	c, ok := m.Content.(Content)
	if !ok {
		return notify.ForeignOutcome(Name, m.Content)
	}
	ctx, cancel, out, ok := notify.Depart(ctx, Name, w.pacer, notify.SendTimeout)
	if !ok {
		return out
	}
	defer cancel()
	msg := &slackapi.WebhookMessage{Text: c.Text, Attachments: attachments(c)}
	if len(c.Blocks) > 0 {
		msg.Blocks = &slackapi.Blocks{BlockSet: c.Blocks}
	}
	if err := slackapi.PostWebhookCustomHTTPContext(ctx, w.url.Reveal(), w.client, msg); err != nil {
		return held(ctx, w.pacer, classify("webhook", err, w.scrub))
	}
	return notify.Outcome{}
}

// Slack error codes that a later attempt may get past, and those that
// mean the token is wrong. internal_error and fatal_error may have posted
// part of the message (Slack's own wording), so they are ambiguous.
var (
	throttled = map[string]bool{"ratelimited": true, "rate_limited": true}
	transient = map[string]bool{"request_timeout": true, "service_unavailable": true, "team_added_to_org": true}
	ambiguous = map[string]bool{"internal_error": true, "fatal_error": true}
	denied    = map[string]bool{
		"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
		"token_expired": true, "org_login_required": true,
	}
)

// classify turns a slack-go error of op into an Outcome. Everything not
// known to be retryable is permanent: a failure nobody expected needs an
// operator, not a loop.
func classify(op string, err error, scrub *strings.Replacer) notify.Outcome {
	var (
		rl *slackapi.RateLimitedError
		sc slackapi.StatusCodeError
		se slackapi.SlackErrorResponse
		ne *strconv.NumError
	)
	switch {
	case errors.As(err, &rl):
		f := notify.Failure(Name, op, failure.Throttled, err, scrub, rl)
		f.Code, f.HTTPStatus, f.RetryAfter = "ratelimited", http.StatusTooManyRequests, rl.RetryAfter
		return notify.Outcome{Unposted: true, Err: f}
	case errors.As(err, &sc):
		// A gateway's 5xx page may follow a post Slack made.
		f := notify.Failure(Name, op, notify.StatusClass(sc.Code), err, scrub, sc)
		f.HTTPStatus = sc.Code
		return notify.Outcome{Unposted: sc.Code < 500, Err: f}
	case errors.As(err, &se):
		class := failure.Permanent
		switch {
		case throttled[se.Err]:
			class = failure.Throttled
		case transient[se.Err], ambiguous[se.Err]:
			class = failure.Transient
		case denied[se.Err]:
			class = failure.Auth
		}
		f := notify.Failure(Name, op, class, err, scrub, se)
		f.Code, f.HTTPStatus = se.Err, http.StatusOK
		return notify.Outcome{Ambiguous: ambiguous[se.Err], Unposted: !ambiguous[se.Err], Err: f}
	case errors.As(err, &ne):
		// slack-go parses Retry-After only on 429 and fails on a date.
		f := notify.Failure(Name, op, failure.Throttled, err, scrub, nil)
		f.HTTPStatus = http.StatusTooManyRequests
		return notify.Outcome{Unposted: true, Err: f}
	default:
		return notify.TransportOutcome(Name, op, err, scrub)
	}
}

// held holds the channel's pace for the Retry-After Slack answered, so
// that no send, from this instance or another, goes before it has passed.
func held(ctx context.Context, p pace.Pacer, out notify.Outcome) notify.Outcome {
	if out.Err != nil && out.Err.RetryAfter > 0 {
		p.Hold(ctx, out.Err.RetryAfter)
	}
	return out
}

// pacerOrDefault is p, or Slack's own pace in the process.
func pacerOrDefault(p pace.Pacer) pace.Pacer {
	if p != nil {
		return p
	}
	local, _ := pace.NewLocal(Limits...) // Limits admit sends
	return local
}

// FromConfig is the Slack sink cfg configures: the bot when it has a
// token, else the webhook; nil when Slack is off.
func FromConfig(cfg config.Config, w notify.Wiring) (notify.Sink, error) {
	switch {
	case cfg.SlackBotToken.Set():
		p, err := w.Pacers.Pacer(Name, cfg.SlackChannel, Limits...)
		if err != nil {
			return nil, fmt.Errorf("SLACK_CHANNEL: %w", err)
		}
		s, err := NewBot(BotConfig{Token: cfg.SlackBotToken, Channel: cfg.SlackChannel, APIURL: cfg.SlackAPIURL, Renderer: renderer(cfg), HTTPClient: w.HTTPClient, Pacer: p})
		if err != nil {
			return nil, fmt.Errorf("SLACK_BOT_TOKEN: %w", err)
		}
		return s, nil
	case cfg.SlackWebhookURL.Set():
		p, err := w.Pacers.Pacer(Name, cfg.SlackWebhookURL.Reveal(), Limits...)
		if err != nil {
			return nil, fmt.Errorf("SLACK_WEBHOOK_URL: %w", err)
		}
		s, err := NewWebhook(WebhookConfig{URL: cfg.SlackWebhookURL, Renderer: renderer(cfg), HTTPClient: w.HTTPClient, Pacer: p})
		if err != nil {
			return nil, fmt.Errorf("SLACK_WEBHOOK_URL: %w", err)
		}
		return s, nil
	}
	return nil, nil
}

// renderer is how cfg has the messages written.
func renderer(cfg config.Config) Renderer {
	return Renderer{Mention: cfg.SlackMention, Lang: notify.Lang(cfg.SlackLang)}
}
