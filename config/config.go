// Package config reads precheckwatch's settings from environment variables
// (SPEC §4), applies the documented defaults and reports every bad value at
// once, naming the variable and never the secret it holds.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"precheckwatch/secret"
)

// Config is the function's effective configuration.
type Config struct {
	Queue           string
	DeadLetterQueue string
	// MNSEndpoint is the MNS_ENDPOINT override; empty means the region's
	// endpoint for the invoking account (see MNSEndpointFor).
	MNSEndpoint string
	// InsideFC is whether the process runs under FC's runtime API
	// (FC_RUNTIME_API is set), where the internal MNS endpoint is reachable.
	InsideFC bool
	// SASEndpoint is the SAS_ENDPOINT override, a host or URL; empty means
	// the site endpoint of the region (see SASEndpointFor).
	SASEndpoint string

	SlackBotToken   secret.Value
	SlackChannel    string
	SlackWebhookURL secret.Value
	SlackAPIURL     string
	SlackMention    string

	DingTalkWebhookURL secret.Value
	DingTalkSecret     secret.Value
	DingTalkAtMobiles  []string
	DingTalkAtUserIDs  []string

	FeishuWebhookURL secret.Value
	FeishuSecret     secret.Value
	FeishuAtUserIDs  []string
	// FeishuAppID, FeishuAppSecret and FeishuChatID configure the Open
	// Platform's app bot instead of a custom bot's webhook; FeishuAPIURL is
	// its base URL, DefaultFeishuAPIURL unless set, "" without an app bot.
	FeishuAppID     string
	FeishuAppSecret secret.Value
	FeishuChatID    string
	FeishuAPIURL    string

	// MessageLang is the language of every message, "en" or "zh";
	// SlackLang, DingTalkLang and FeishuLang are each channel's: its own
	// variable, else MessageLang.
	MessageLang                         string
	SlackLang, DingTalkLang, FeishuLang string

	BackoffInitial time.Duration
	BackoffMax     time.Duration
	TaskDeadline   time.Duration
	// UnknownTaskGrace is how long a task Security Center does not know is
	// asked about before it ends as ERROR.
	UnknownTaskGrace time.Duration

	DedupeURL secret.Value // may hold a Redis password

	CheckConcurrency int
	SASRateLimit     float64
	// DigestThreshold: when more tasks than this finish in one invocation,
	// each channel gets one digest instead of a message per task.
	DigestThreshold int

	NotifyStarted bool
	// NotifyMode is NotifyAll or NotifyChanges (NOTIFY_MODE).
	NotifyMode NotifyMode
	LogLevel   string

	Region    string // FC_REGION, overridden per invocation by x-fc-region
	AccountID string // FC_ACCOUNT_ID, overridden per invocation by x-fc-account-id

	// Credentials are the ALIBABA_CLOUD_* fallbacks used when an
	// invocation carries none.
	Credentials secret.Credentials
}

// NotifyMode is which verdicts of a fleet run's tasks are posted on their
// own; the run's summary shows them all.
type NotifyMode string

// The notify modes.
const (
	// NotifyAll posts every verdict.
	NotifyAll NotifyMode = "all"
	// NotifyChanges posts a fleet task's verdict only when it differs from
	// its database's previous one (a new database's only when not PASSED).
	NotifyChanges NotifyMode = "changes"
)

// Defaults.
const (
	DefaultQueue           = "precheck-pending"
	DefaultDeadLetterQueue = "precheck-dead-letter"
	DefaultSlackAPIURL     = "https://slack.com/api/"
	DefaultBackoffInitial  = 15 * time.Second
	DefaultBackoffMax      = 5 * time.Minute
	DefaultTaskDeadline    = 2 * time.Hour
	// DefaultUnknownTaskGrace covers a task id that Security Center has
	// only just issued and does not answer for yet.
	DefaultUnknownTaskGrace = 10 * time.Minute
	DefaultDedupeURL        = "memory://"
	DefaultCheckConcurrency = 16
	// DefaultSASRateLimit is deliberately low: Security Center publishes no
	// QPS for QueryPreCheckDatabase, and 20 a second still checks 1,000
	// tasks in under a minute.
	DefaultSASRateLimit    = 20
	DefaultDigestThreshold = 5
	DefaultLogLevel        = "info"
	// DefaultMessageLang is English; zh writes every message in Chinese.
	DefaultMessageLang = "en"
)

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		Queue:              r.name("PRECHECK_QUEUE", DefaultQueue),
		DeadLetterQueue:    r.name("PRECHECK_DEAD_LETTER_QUEUE", DefaultDeadLetterQueue),
		MNSEndpoint:        r.url("MNS_ENDPOINT", false),
		InsideFC:           getenv("FC_RUNTIME_API") != "",
		SASEndpoint:        r.str("SAS_ENDPOINT", ""),
		SlackBotToken:      secret.Value(r.str("SLACK_BOT_TOKEN", "")),
		SlackChannel:       r.str("SLACK_CHANNEL", ""),
		SlackWebhookURL:    secret.Value(r.url("SLACK_WEBHOOK_URL", true)),
		SlackAPIURL:        r.str("SLACK_API_URL", DefaultSlackAPIURL),
		SlackMention:       r.str("SLACK_MENTION", ""),
		DingTalkWebhookURL: secret.Value(r.url("DINGTALK_WEBHOOK_URL", true)),
		DingTalkSecret:     secret.Value(r.str("DINGTALK_SECRET", "")),
		DingTalkAtMobiles:  r.list("DINGTALK_AT_MOBILES"),
		DingTalkAtUserIDs:  r.list("DINGTALK_AT_USER_IDS"),
		FeishuWebhookURL:   secret.Value(r.url("FEISHU_WEBHOOK_URL", true)),
		FeishuSecret:       secret.Value(r.str("FEISHU_SECRET", "")),
		FeishuAtUserIDs:    r.list("FEISHU_AT_USER_IDS"),
		FeishuAppID:        r.str("FEISHU_APP_ID", ""),
		FeishuAppSecret:    secret.Value(r.str("FEISHU_APP_SECRET", "")),
		FeishuChatID:       r.str("FEISHU_CHAT_ID", ""),
		FeishuAPIURL:       r.url("FEISHU_API_URL", false),
		BackoffInitial:     r.duration("BACKOFF_INITIAL", DefaultBackoffInitial),
		BackoffMax:         r.duration("BACKOFF_MAX", DefaultBackoffMax),
		TaskDeadline:       r.duration("TASK_DEADLINE", DefaultTaskDeadline),
		UnknownTaskGrace:   r.duration("UNKNOWN_TASK_GRACE", DefaultUnknownTaskGrace),
		DedupeURL:          secret.Value(r.str("DEDUPE_URL", DefaultDedupeURL)),
		CheckConcurrency:   r.integer("CHECK_CONCURRENCY", DefaultCheckConcurrency, 1, 1000),
		SASRateLimit:       r.rate("SAS_RATE_LIMIT", DefaultSASRateLimit),
		DigestThreshold:    r.integer("DIGEST_THRESHOLD", DefaultDigestThreshold, 1, 1000),
		NotifyStarted:      r.boolean("NOTIFY_STARTED", false),
		NotifyMode:         r.notifyMode("NOTIFY_MODE", NotifyAll),
		LogLevel:           r.level("LOG_LEVEL", DefaultLogLevel),
		Region:             r.str("FC_REGION", ""),
		AccountID:          r.str("FC_ACCOUNT_ID", ""),
		Credentials: secret.Credentials{
			AccessKeyID:     r.str("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
			AccessKeySecret: secret.Value(r.str("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")),
			SecurityToken:   secret.Value(r.str("ALIBABA_CLOUD_SECURITY_TOKEN", "")),
		},
	}
	c.MessageLang = r.lang("MESSAGE_LANG", DefaultMessageLang)
	c.SlackLang, c.DingTalkLang, c.FeishuLang = r.lang("SLACK_LANG", c.MessageLang), r.lang("DINGTALK_LANG", c.MessageLang), r.lang("FEISHU_LANG", c.MessageLang)
	if !strings.HasSuffix(c.SlackAPIURL, "/") {
		r.fail("SLACK_API_URL", "must end with a slash, e.g. https://slack.com/api/")
	}
	if c.BackoffInitial > c.BackoffMax {
		r.fail("BACKOFF_INITIAL", fmt.Sprintf("(%s) must not exceed BACKOFF_MAX (%s)", c.BackoffInitial, c.BackoffMax))
	}
	if c.BackoffMax > 12*time.Hour {
		r.fail("BACKOFF_MAX", "must be at most 12h (MNS visibility and delay limits)")
	}
	if c.SlackBotToken.Set() && c.SlackChannel == "" {
		r.fail("SLACK_CHANNEL", "is required when SLACK_BOT_TOKEN is set")
	}
	if u := c.DingTalkWebhookURL.Reveal(); u != "" && !strings.Contains(u, "access_token=") {
		r.fail("DINGTALK_WEBHOOK_URL", "must carry access_token=... in its query")
	}
	if s := c.DingTalkSecret.Reveal(); s != "" && !strings.HasPrefix(s, "SEC") {
		r.fail("DINGTALK_SECRET", "must be the robot's signing secret, which starts with SEC")
	}
	if u := c.FeishuWebhookURL.Reveal(); u != "" && !strings.Contains(u, "/open-apis/bot/v2/hook/") {
		r.fail("FEISHU_WEBHOOK_URL", "must be a custom bot webhook, like https://open.feishu.cn/open-apis/bot/v2/hook/…")
	}
	r.feishuApp(c)
	if c.FeishuAppBot() && c.FeishuAPIURL == "" {
		c.FeishuAPIURL = DefaultFeishuAPIURL
	}
	if d := c.DedupeURL.Reveal(); !strings.HasPrefix(d, "memory://") && !strings.HasPrefix(d, "redis://") && !strings.HasPrefix(d, "rediss://") {
		r.fail("DEDUPE_URL", "must be memory:// or redis://host:port/db")
	}
	if c.Credentials.AccessKeyID != "" && !c.Credentials.AccessKeySecret.Set() {
		r.fail("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "is required when ALIBABA_CLOUD_ACCESS_KEY_ID is set")
	}
	if err := errors.Join(r.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// SlackEnabled reports whether any Slack delivery is configured.
func (c Config) SlackEnabled() bool { return c.SlackBotToken.Set() || c.SlackWebhookURL.Set() }

// DingTalkEnabled reports whether DingTalk delivery is configured.
func (c Config) DingTalkEnabled() bool { return c.DingTalkWebhookURL.Set() }

// FeishuEnabled reports whether Feishu delivery is configured, by a
// custom bot's webhook or by an app bot.
func (c Config) FeishuEnabled() bool { return c.FeishuWebhookURL.Set() || c.FeishuAppBot() }

// FeishuAppBot reports whether Feishu posts through the Open Platform's
// app bot.
func (c Config) FeishuAppBot() bool { return c.FeishuAppID != "" }

// DefaultFeishuAPIURL is the Open Platform of Feishu; Lark's is
// https://open.larksuite.com.
const DefaultFeishuAPIURL = "https://open.feishu.cn"

// feishuApp checks the app bot's settings: all of them or none, and never
// beside a custom bot's.
func (r *reader) feishuApp(c Config) {
	app := []struct {
		name string
		set  bool
	}{{"FEISHU_APP_ID", c.FeishuAppID != ""}, {"FEISHU_APP_SECRET", c.FeishuAppSecret.Set()}, {"FEISHU_CHAT_ID", c.FeishuChatID != ""}}
	var some []string
	for _, v := range app {
		if v.set {
			some = append(some, v.name)
		}
	}
	if len(some) > 0 && c.FeishuWebhookURL.Set() {
		r.fail("FEISHU_WEBHOOK_URL", "and "+strings.Join(some, ", ")+" are both set: Feishu posts either through a custom bot's webhook or through an app bot; unset one")
		return
	}
	if len(some) > 0 {
		for _, v := range app {
			if !v.set {
				r.fail(v.name, "is required when "+strings.Join(some, " and ")+" is: FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_CHAT_ID configure the Feishu app bot together")
			}
		}
	}
	if c.FeishuSecret.Set() && !c.FeishuWebhookURL.Set() {
		r.fail("FEISHU_SECRET", "is a custom bot's signing secret and needs FEISHU_WEBHOOK_URL; an app bot signs nothing")
	}
	if c.FeishuAPIURL != "" && len(some) == 0 {
		r.fail("FEISHU_API_URL", "is the app bot's Open Platform and needs FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_CHAT_ID")
	}
}

// SASEndpointFor is the Security Center endpoint for a function in region:
// the override when set, else the site endpoint (mainland China and Hong
// Kong are served from Shanghai, everywhere else from Singapore).
func (c Config) SASEndpointFor(region string) string {
	if c.SASEndpoint != "" {
		return c.SASEndpoint
	}
	if strings.HasPrefix(region, "cn-") {
		return "tds.cn-shanghai.aliyuncs.com"
	}
	return "tds.ap-southeast-1.aliyuncs.com"
}

// MNSEndpointFor is the MNS endpoint for the invoking account and region:
// the override when set, else the region's internal endpoint inside FC and
// its public one elsewhere (a laptop or a pipeline cannot resolve the
// internal name).
func (c Config) MNSEndpointFor(region, accountID string) (string, error) {
	if c.MNSEndpoint != "" {
		return c.MNSEndpoint, nil
	}
	if region == "" || accountID == "" {
		return "", errors.New("MNS_ENDPOINT is not set and the region or account id is unknown (set FC_REGION and FC_ACCOUNT_ID, or MNS_ENDPOINT)")
	}
	if c.InsideFC {
		return fmt.Sprintf("http://%s.mns.%s-internal.aliyuncs.com", accountID, region), nil
	}
	return fmt.Sprintf("https://%s.mns.%s.aliyuncs.com", accountID, region), nil
}

// mnsEndpointShown is MNS_ENDPOINT as config shows it: the override (its
// user:password, if any, masked), else the default this process would use.
func (c Config) mnsEndpointShown() string {
	if c.MNSEndpoint != "" {
		return secret.RedactUserinfo(c.MNSEndpoint)
	}
	where := "public endpoint of the region, as outside FC"
	if c.InsideFC {
		where = "internal endpoint of the region, as inside FC"
	}
	if e, err := c.MNSEndpointFor(c.Region, c.AccountID); err == nil {
		return e + " (" + where + ")"
	}
	return "(" + where + "; needs FC_REGION and FC_ACCOUNT_ID)"
}

// Redacted lists the effective configuration as variable=value pairs, in
// the SPEC's order, with every secret masked.
func (c Config) Redacted() [][2]string {
	d := func(x time.Duration) string { return x.String() }
	return [][2]string{
		{"PRECHECK_QUEUE", c.Queue},
		{"PRECHECK_DEAD_LETTER_QUEUE", c.DeadLetterQueue},
		{"MNS_ENDPOINT", c.mnsEndpointShown()},
		{"SAS_ENDPOINT", orDefault(secret.RedactUserinfo(c.SASEndpoint), "(site endpoint of the region)")},
		{"SLACK_BOT_TOKEN", c.SlackBotToken.String()},
		{"SLACK_CHANNEL", c.SlackChannel},
		{"SLACK_WEBHOOK_URL", redactURL(c.SlackWebhookURL)},
		{"SLACK_API_URL", c.SlackAPIURL},
		{"SLACK_MENTION", c.SlackMention},
		{"DINGTALK_WEBHOOK_URL", redactURL(c.DingTalkWebhookURL)},
		{"DINGTALK_SECRET", c.DingTalkSecret.String()},
		{"DINGTALK_AT_MOBILES", strings.Join(c.DingTalkAtMobiles, ",")},
		{"DINGTALK_AT_USER_IDS", strings.Join(c.DingTalkAtUserIDs, ",")},
		{"FEISHU_WEBHOOK_URL", redactURL(c.FeishuWebhookURL)},
		{"FEISHU_SECRET", c.FeishuSecret.String()},
		{"FEISHU_AT_USER_IDS", strings.Join(c.FeishuAtUserIDs, ",")},
		{"FEISHU_APP_ID", c.FeishuAppID},
		{"FEISHU_APP_SECRET", c.FeishuAppSecret.String()},
		{"FEISHU_CHAT_ID", c.FeishuChatID},
		{"FEISHU_API_URL", c.FeishuAPIURL},
		{"MESSAGE_LANG", c.MessageLang},
		{"SLACK_LANG", c.SlackLang},
		{"DINGTALK_LANG", c.DingTalkLang},
		{"FEISHU_LANG", c.FeishuLang},
		{"BACKOFF_INITIAL", d(c.BackoffInitial)},
		{"BACKOFF_MAX", d(c.BackoffMax)},
		{"TASK_DEADLINE", d(c.TaskDeadline)},
		{"UNKNOWN_TASK_GRACE", d(c.UnknownTaskGrace)},
		{"DEDUPE_URL", redactURL(c.DedupeURL)},
		{"CHECK_CONCURRENCY", strconv.Itoa(c.CheckConcurrency)},
		{"SAS_RATE_LIMIT", strconv.FormatFloat(c.SASRateLimit, 'g', -1, 64)},
		{"DIGEST_THRESHOLD", strconv.Itoa(c.DigestThreshold)},
		{"NOTIFY_STARTED", strconv.FormatBool(c.NotifyStarted)},
		{"NOTIFY_MODE", string(c.NotifyMode)},
		{"LOG_LEVEL", c.LogLevel},
		{"FC_REGION", c.Region},
		{"FC_ACCOUNT_ID", c.AccountID},
		{"ALIBABA_CLOUD_ACCESS_KEY_ID", c.Credentials.AccessKeyID},
		{"ALIBABA_CLOUD_ACCESS_KEY_SECRET", c.Credentials.AccessKeySecret.String()},
		{"ALIBABA_CLOUD_SECURITY_TOKEN", c.Credentials.SecurityToken.String()},
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// redactURL keeps the scheme and host of a secret URL, which is enough to
// tell which service it points at.
func redactURL(v secret.Value) string {
	if !v.Set() {
		return ""
	}
	if strings.HasPrefix(v.Reveal(), "memory://") {
		return v.Reveal()
	}
	return secret.RedactURL(v.Reveal())
}

// reader collects every problem instead of stopping at the first, so an
// operator fixes a deployment in one round.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, problem string) {
	r.errs = append(r.errs, fmt.Errorf("%s %s", name, problem))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) name(name, def string) string {
	v := r.str(name, def)
	for i, c := range v {
		ok := c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !ok || (i == 0 && c == '-') || len(v) > 120 {
			r.fail(name, fmt.Sprintf("%q is not a valid MNS queue name (letters, digits and '-', at most 120, not starting with '-')", v))
			return def
		}
	}
	return v
}

// url checks that a URL setting is an absolute http(s) URL; a secret one is
// never quoted back, nor the user info of any.
func (r *reader) url(name string, isSecret bool) string {
	v := r.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if isSecret {
			r.fail(name, "is not an http(s) URL")
		} else {
			r.fail(name, fmt.Sprintf("%q is not an http(s) URL", secret.RedactUserinfo(v)))
		}
		return ""
	}
	return v
}

func (r *reader) list(name string) []string {
	var out []string
	for _, part := range strings.Split(r.getenv(name), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, fmt.Sprintf("%q is not a positive Go duration such as 15s, 5m or 2h", v))
		return def
	}
	return d
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("%q is not a whole number from %d to %d", v, lo, hi))
		return def
	}
	return n
}

func (r *reader) rate(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 100000 {
		r.fail(name, fmt.Sprintf("%q is not a positive number of requests a second", v))
		return def
	}
	return f
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("%q is not true or false", v))
		return def
	}
	return b
}

// lang reads a message language, "en" or "zh".
func (r *reader) lang(name, def string) string {
	v := strings.ToLower(r.str(name, def))
	switch v {
	case "en", "zh":
		return v
	}
	r.fail(name, fmt.Sprintf("%q is not en or zh", v))
	return def
}

func (r *reader) notifyMode(name string, def NotifyMode) NotifyMode {
	v := NotifyMode(strings.ToLower(r.str(name, string(def))))
	switch v {
	case NotifyAll, NotifyChanges:
		return v
	}
	r.fail(name, fmt.Sprintf("%q is not all or changes", v))
	return def
}

func (r *reader) level(name, def string) string {
	v := strings.ToLower(r.str(name, def))
	switch v {
	case "debug", "info", "warn", "error":
		return v
	}
	r.fail(name, fmt.Sprintf("%q is not one of debug, info, warn, error", v))
	return def
}
