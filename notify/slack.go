package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"precheckwatch/secret"
)

// SlackName is the sink name of both Slack sinks: a deployment uses one.
const SlackName = "slack"

// DefaultSlackAPIURL is Slack's Web API base URL.
const DefaultSlackAPIURL = "https://slack.com/api/"

// slackTimeout bounds one Slack request when the caller's HTTP client has none.
const slackTimeout = 10 * time.Second

// SlackBotConfig configures the bot-token sink.
type SlackBotConfig struct {
	Token secret.Value
	// Channel is where messages go: an ID ("C0123") or "#name".
	Channel string
	// APIURL is the Web API base, with its trailing slash; default
	// DefaultSlackAPIURL.
	APIURL string
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// PerSecond and Burst pace posts to the channel; default 1 a second,
	// Slack's chat.postMessage limit per channel.
	PerSecond float64
	Burst     int
}

// SlackBot posts through the Web API with a bot token: blocks, a coloured
// attachment bar, thread replies, and in-place updates. It is an Updater.
type SlackBot struct {
	api     *slack.Client
	channel string
	limiter *rate.Limiter
	scrub   *strings.Replacer
	// channelID is the channel's ID as posts answer it, for
	// conversations.history, which takes no #name.
	channelID atomic.Pointer[string]
}

// NewSlackBot checks cfg and returns the sink.
func NewSlackBot(cfg SlackBotConfig) (*SlackBot, error) {
	if !cfg.Token.Set() {
		return nil, errors.New("slack bot: no token")
	}
	if cfg.Channel == "" {
		return nil, errors.New("slack bot: no channel")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultSlackAPIURL
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/") {
		return nil, fmt.Errorf("slack bot: API URL %q must be an http(s) URL ending in /", cfg.APIURL)
	}
	return &SlackBot{
		api: slack.New(cfg.Token.Reveal(),
			slack.OptionAPIURL(cfg.APIURL),
			slack.OptionHTTPClient(httpClientOrDefault(cfg.HTTPClient, slackTimeout))),
		channel: cfg.Channel,
		limiter: newLimiter(cfg.PerSecond, 1, cfg.Burst),
		scrub:   strings.NewReplacer(cfg.Token.Reveal(), secret.Mask),
	}, nil
}

// Name implements Sink.
func (b *SlackBot) Name() string { return SlackName }

// String describes the sink without its token.
func (b *SlackBot) String() string { return "slack bot sink for " + b.channel }

// Send posts m.Slack to the channel, as a reply under m.ThreadOf when set,
// tagged with m.Key as SendCarrying does.
func (b *SlackBot) Send(ctx context.Context, m Message) Outcome {
	return b.SendCarrying(ctx, m, nil)
}

// SlackEventType is the metadata event type of every message the bot sink
// posts with a key. Its payload names the message's key ("key") and the
// keys of every verdict it carries, space-separated ("carries"), so that
// Find can tell whether a post whose answer was lost went out.
const SlackEventType = "precheck_verdict"

// SendCarrying is Send for a message that carries the verdicts keys (a
// digest); m.Key is always among them.
func (b *SlackBot) SendCarrying(ctx context.Context, m Message, keys []string) Outcome {
	if err := b.limiter.Wait(ctx); err != nil {
		return limiterOutcome(SlackName, err)
	}
	opts := slackMessageOptions(m.Slack, false)
	if m.ThreadOf != "" {
		opts = append(opts, slack.MsgOptionTS(m.ThreadOf))
		if m.Slack.Broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	if m.Key != "" {
		carries := []string{m.Key}
		for _, k := range keys {
			if k != m.Key {
				carries = append(carries, k)
			}
		}
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{
			EventType:    SlackEventType,
			EventPayload: map[string]any{"key": m.Key, "carries": strings.Join(carries, " ")},
		}))
	}
	channel, ts, err := b.api.PostMessageContext(ctx, b.channel, opts...)
	if err != nil {
		return classifySlack("slack chat.postMessage", err, b.scrub)
	}
	if channel != "" {
		b.channelID.Store(&channel)
	}
	return Outcome{Status: Sent, Channel: channel, Ref: ts}
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
func (b *SlackBot) Find(ctx context.Context, keys []string, since time.Time) (map[string]Outcome, error) {
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
	found := map[string]Outcome{}
	params := &slack.GetConversationHistoryParameters{
		ChannelID: channel, Oldest: slackTS(since), Limit: findPageSize, Inclusive: true, IncludeAllMetadata: true,
	}
	for range findPages {
		if err := b.limiter.Wait(ctx); err != nil {
			return nil, limiterOutcome(SlackName, err).Err
		}
		resp, err := b.api.GetConversationHistoryContext(ctx, params)
		if err != nil {
			return nil, classifySlack("slack conversations.history", err, b.scrub).Err
		}
		for _, msg := range resp.Messages {
			for _, k := range carried(msg.Metadata) {
				if _, seen := found[k]; wanted[k] && !seen {
					found[k] = Outcome{Status: Sent, Channel: channel, Ref: msg.Timestamp}
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
func carried(md slack.SlackMetadata) []string {
	if md.EventType != SlackEventType {
		return nil
	}
	keys, _ := md.EventPayload["carries"].(string)
	out := strings.Fields(keys)
	if k, _ := md.EventPayload["key"].(string); k != "" {
		out = append(out, k)
	}
	return out
}

// slackTS formats t as a Slack ts, to the microsecond.
func slackTS(t time.Time) string {
	if t.IsZero() || t.Unix() < 0 {
		return "0"
	}
	micro := t.UnixMicro()
	return fmt.Sprintf("%d.%06d", micro/1e6, micro%1e6)
}

// Update replaces message ts of channel with m.Slack: text, blocks and the
// attachment are all replaced, so a stale colour bar does not survive.
func (b *SlackBot) Update(ctx context.Context, channel, ts string, m Message) Outcome {
	if err := b.limiter.Wait(ctx); err != nil {
		return limiterOutcome(SlackName, err)
	}
	ch, newTS, _, err := b.api.UpdateMessageContext(ctx, channel, ts, slackMessageOptions(m.Slack, true)...)
	if err != nil {
		return classifySlack("slack chat.update", err, b.scrub)
	}
	return Outcome{Status: Sent, Channel: ch, Ref: newTS}
}

// slackMessageOptions turns content into slack-go options. The text is sent
// unescaped (the renderer escapes user data and keeps mentions). On update,
// empty blocks and attachments are sent explicitly to clear the old ones.
func slackMessageOptions(c SlackContent, update bool) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(c.Text, false)}
	if len(c.Blocks) > 0 || update {
		opts = append(opts, slack.MsgOptionBlocks(c.Blocks...))
	}
	if atts := slackAttachments(c); len(atts) > 0 || update {
		opts = append(opts, slack.MsgOptionAttachments(append([]slack.Attachment{}, atts...)...))
	}
	return opts
}

// slackAttachments returns the coloured attachment holding c.Detail, if
// c has a colour.
func slackAttachments(c SlackContent) []slack.Attachment {
	if c.Color == "" {
		return nil
	}
	return []slack.Attachment{{Color: c.Color, Fallback: c.Text, Blocks: slack.Blocks{BlockSet: c.Detail}}}
}

// SlackWebhookConfig configures the incoming-webhook sink.
type SlackWebhookConfig struct {
	// URL is the webhook URL; its path is the credential.
	URL secret.Value
	// HTTPClient sends the requests; default one with a 10s timeout.
	HTTPClient *http.Client
	// PerSecond and Burst pace posts; default 1 a second, the webhook limit.
	PerSecond float64
	Burst     int
}

// SlackWebhook posts through an incoming webhook, used when there is no bot
// token. Webhook posts answer no ts, so they cannot be threaded or updated.
type SlackWebhook struct {
	url     secret.Value
	client  *http.Client
	limiter *rate.Limiter
	scrub   *strings.Replacer
}

// NewSlackWebhook checks cfg and returns the sink.
func NewSlackWebhook(cfg SlackWebhookConfig) (*SlackWebhook, error) {
	u, err := url.Parse(cfg.URL.Reveal())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(u.Path) <= 1 {
		// The URL is the credential: say what is wrong without it.
		return nil, errors.New("slack webhook: URL must be an http(s) URL with a path, like https://hooks.slack.com/services/T…/B…/X…")
	}
	return &SlackWebhook{
		url:     cfg.URL,
		client:  httpClientOrDefault(cfg.HTTPClient, slackTimeout),
		limiter: newLimiter(cfg.PerSecond, 1, cfg.Burst),
		scrub:   urlScrubber(cfg.URL.Reveal(), u),
	}, nil
}

// Name implements Sink.
func (w *SlackWebhook) Name() string { return SlackName }

// String describes the sink without its URL.
func (w *SlackWebhook) String() string {
	return "slack webhook sink " + secret.RedactURL(w.url.Reveal())
}

// Send posts m.Slack through the webhook. ThreadOf is ignored: a webhook
// has no ts to thread under.
func (w *SlackWebhook) Send(ctx context.Context, m Message) Outcome {
	if err := w.limiter.Wait(ctx); err != nil {
		return limiterOutcome(SlackName, err)
	}
	msg := &slack.WebhookMessage{Text: m.Slack.Text, Attachments: slackAttachments(m.Slack)}
	if len(m.Slack.Blocks) > 0 {
		msg.Blocks = &slack.Blocks{BlockSet: m.Slack.Blocks}
	}
	if err := slack.PostWebhookCustomHTTPContext(ctx, w.url.Reveal(), w.client, msg); err != nil {
		return classifySlack("slack webhook", err, w.scrub)
	}
	return Outcome{Status: Sent}
}

// Slack error codes that a later attempt may get past. internal_error and
// fatal_error may have posted part of the message (Slack's own wording), so
// they are ambiguous.
var (
	slackTransient = map[string]bool{
		"ratelimited": true, "rate_limited": true, "request_timeout": true,
		"service_unavailable": true, "team_added_to_org": true,
	}
	slackAmbiguous = map[string]bool{"internal_error": true, "fatal_error": true}
)

// classifySlack turns a slack-go error into an Outcome. Everything not
// known to be transient is permanent: a failure nobody expected needs an
// operator, not a loop.
func classifySlack(op string, err error, scrub *strings.Replacer) Outcome {
	var (
		rl *slack.RateLimitedError
		sc slack.StatusCodeError
		se slack.SlackErrorResponse
		ne *strconv.NumError
	)
	out := Outcome{Status: Failed, Err: redactedError(op, err, scrub)}
	switch {
	case errors.As(err, &rl):
		out.Status, out.RetryAfter, out.Reason = Retry, rl.RetryAfter, "ratelimited"
	case errors.As(err, &sc):
		out.Reason = "http_" + strconv.Itoa(sc.Code)
		if sc.Code == http.StatusTooManyRequests || sc.Code >= 500 {
			out.Status = Retry
		}
	case errors.As(err, &se):
		out.Reason = se.Err
		if se.Err == "" {
			out.Reason = "slack_error"
		}
		if slackTransient[se.Err] || slackAmbiguous[se.Err] {
			out.Status, out.Ambiguous = Retry, slackAmbiguous[se.Err]
		}
	case errors.As(err, &ne):
		// slack-go parses Retry-After only on 429 and fails on a date.
		out.Status, out.Reason = Retry, "http_429"
	default:
		out = transportOutcome(op, err, scrub)
	}
	return out
}

// transportOutcome classifies an error with no answer from the service.
// A request refused before any byte was sent (dial failure) is safely
// retryable; any other may have been received, so it is ambiguous. An
// answer that could not be read also means the request arrived.
func transportOutcome(op string, err error, scrub *strings.Replacer) Outcome {
	out := Outcome{Status: Retry, Ambiguous: true, Reason: "transport", Err: redactedError(op, err, scrub)}
	var (
		ue  *url.Error
		oe  *net.OpError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		out.Ambiguous, out.Reason = false, "connect"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ue) && ue.Timeout():
		out.Reason = "timeout"
	case errors.Is(err, context.Canceled):
		out.Reason = "canceled"
	case errors.As(err, &se), errors.As(err, &ute), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		out.Reason = "bad_response"
	case errors.As(err, &ue):
	default:
		// Not a transport error: the request could not even be built.
		out.Status, out.Ambiguous, out.Reason = Failed, false, "request"
	}
	return out
}

// limiterOutcome reports that ctx ended before the local limiter let a
// request go: nothing was sent.
func limiterOutcome(channel string, err error) Outcome {
	return Outcome{Status: Retry, Reason: "local_rate_limit", Err: fmt.Errorf("%s: waiting for the local rate limiter: %w", channel, err)}
}

// safeError carries a scrubbed message and, for errors.Is and errors.As,
// only causes that hold no secret: context errors and the SDK's typed
// answers. A *url.Error is never kept, since it quotes the URL.
type safeError struct {
	msg   string
	cause error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.cause }

func redactedError(op string, err error, scrub *strings.Replacer) error {
	var (
		cause error
		rl    *slack.RateLimitedError
		sc    slack.StatusCodeError
		se    slack.SlackErrorResponse
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	case errors.As(err, &rl):
		cause = rl
	case errors.As(err, &sc):
		cause = sc
	case errors.As(err, &se):
		cause = se
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		// Drop the quoted URL; keep what went wrong with it.
		msg = ue.Op + " " + secret.Mask + ": " + ue.Err.Error()
	}
	return &safeError{msg: op + ": " + scrub.Replace(msg), cause: cause}
}

// urlScrubber replaces a credential-bearing URL, its normalised form, its
// path and its query wherever they appear.
func urlScrubber(raw string, u *url.URL) *strings.Replacer {
	redacted := secret.RedactURL(raw)
	pairs := []string{raw, redacted, u.String(), redacted}
	if len(u.Path) > 1 {
		pairs = append(pairs, u.Path, "/"+secret.Mask, u.EscapedPath(), "/"+secret.Mask)
	}
	if u.RawQuery != "" {
		pairs = append(pairs, u.RawQuery, secret.Mask)
	}
	return strings.NewReplacer(pairs...)
}

// newLimiter returns a token bucket of perSecond tokens a second (def when
// unset) holding burst tokens (1 when unset).
func newLimiter(perSecond, def float64, burst int) *rate.Limiter {
	if perSecond <= 0 {
		perSecond = def
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// httpClientOrDefault returns c, or a client with timeout when c is nil.
func httpClientOrDefault(c *http.Client, timeout time.Duration) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: timeout}
}
