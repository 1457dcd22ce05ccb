package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue != "precheck-pending" || c.DeadLetterQueue != "precheck-dead-letter" || c.BackoffInitial != 15*time.Second ||
		c.BackoffMax != 5*time.Minute || c.TaskDeadline != 2*time.Hour || c.UnknownTaskGrace != 10*time.Minute || c.DedupeURL.Reveal() != "memory://" ||
		c.CheckConcurrency != 16 || c.SASRateLimit != DefaultSASRateLimit || c.SlackAPIURL != "https://slack.com/api/" ||
		c.NotifyStarted || c.LogLevel != "info" || c.SlackEnabled() || c.DingTalkEnabled() {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestEndpoints(t *testing.T) {
	c, _ := Load(env(nil))
	for region, want := range map[string]string{
		"cn-hangzhou": "tds.cn-shanghai.aliyuncs.com", "cn-hongkong": "tds.cn-shanghai.aliyuncs.com",
		"ap-southeast-1": "tds.ap-southeast-1.aliyuncs.com", "eu-central-1": "tds.ap-southeast-1.aliyuncs.com",
	} {
		if got := c.SASEndpointFor(region); got != want {
			t.Errorf("SASEndpointFor(%s) = %s, want %s", region, got, want)
		}
	}
	if got, _ := c.MNSEndpointFor("cn-hangzhou", "123"); got != "https://123.mns.cn-hangzhou.aliyuncs.com" {
		t.Errorf("MNSEndpointFor outside FC = %s, want the public endpoint", got)
	}
	inFC, _ := Load(env(map[string]string{"FC_RUNTIME_API": "127.0.0.1:9000"}))
	if got, _ := inFC.MNSEndpointFor("cn-hangzhou", "123"); got != "http://123.mns.cn-hangzhou-internal.aliyuncs.com" {
		t.Errorf("MNSEndpointFor inside FC = %s, want the internal endpoint", got)
	}
	if _, err := c.MNSEndpointFor("", ""); err == nil || !strings.Contains(err.Error(), "MNS_ENDPOINT") {
		t.Errorf("MNSEndpointFor without region: %v", err)
	}
	c, _ = Load(env(map[string]string{"MNS_ENDPOINT": "http://127.0.0.1:9100", "SAS_ENDPOINT": "http://127.0.0.1:9200"}))
	if got, _ := c.MNSEndpointFor("", ""); got != "http://127.0.0.1:9100" || c.SASEndpointFor("cn-hangzhou") != "http://127.0.0.1:9200" {
		t.Errorf("overrides not used: %+v", c)
	}
}

func TestBadValuesAreAllReportedWithoutSecrets(t *testing.T) {
	const token = "xoxb-very-secret-token"
	const hook = "https://oapi.dingtalk.com/robot/send?token=leaky"
	_, err := Load(env(map[string]string{
		"BACKOFF_INITIAL":      "soon",
		"TASK_DEADLINE":        "-1h",
		"UNKNOWN_TASK_GRACE":   "a while",
		"CHECK_CONCURRENCY":    "0",
		"SAS_RATE_LIMIT":       "fast",
		"NOTIFY_STARTED":       "yes please",
		"NOTIFY_MODE":          "some",
		"LOG_LEVEL":            "loud",
		"PRECHECK_QUEUE":       "bad_name!",
		"SLACK_BOT_TOKEN":      token,
		"SLACK_API_URL":        "http://127.0.0.1:1/api",
		"DINGTALK_WEBHOOK_URL": hook,
		"DINGTALK_SECRET":      "nope-secret",
		"DEDUPE_URL":           "mysql://user:pw@host/db",
		"MNS_ENDPOINT":         "127.0.0.1:9100",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	msg := err.Error()
	for _, name := range []string{"BACKOFF_INITIAL", "TASK_DEADLINE", "UNKNOWN_TASK_GRACE", "CHECK_CONCURRENCY", "SAS_RATE_LIMIT", "NOTIFY_STARTED", "NOTIFY_MODE",
		"LOG_LEVEL", "PRECHECK_QUEUE", "SLACK_CHANNEL", "SLACK_API_URL", "DINGTALK_WEBHOOK_URL", "DINGTALK_SECRET", "DEDUPE_URL", "MNS_ENDPOINT"} {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
	for _, leak := range []string{token, "leaky", "nope-secret", "pw@"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error leaks %q:\n%s", leak, msg)
		}
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "C1", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
		"DINGTALK_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?access_token=abc", "DINGTALK_SECRET": "SECxyz",
		"DEDUPE_URL": "redis://:hunter2@127.0.0.1:6379/0", "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIid", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk",
		"ALIBABA_CLOUD_SECURITY_TOKEN": "sts",
	}))
	if err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprint(c.Redacted()) + fmt.Sprintf("%+v %#v", c, c)
	for _, leak := range []string{"xoxb-1", "/T/B/X", "access_token=abc", "SECxyz", "hunter2", "=sk", " sk ", "sts}"} {
		if strings.Contains(dump, leak) {
			t.Errorf("dump leaks %q: %s", leak, dump)
		}
	}
	if !strings.Contains(dump, "LTAIid") || !strings.Contains(dump, "oapi.dingtalk.com") {
		t.Errorf("dump lost non-secret parts: %s", dump)
	}
}

// config shows endpoints with their user info masked, however the password
// is spelt, and names the default MNS endpoint this process would use.
func TestRedactedEndpoints(t *testing.T) {
	shown := func(c Config, name string) string {
		for _, kv := range c.Redacted() {
			if kv[0] == name {
				return kv[1]
			}
		}
		t.Fatalf("Redacted lacks %s", name)
		return ""
	}
	for _, password := range []string{"plain", "p/ss", "p#ss", "p?ss", "p@ss", "a:b/c?d#e@f"} {
		c, err := Load(env(map[string]string{
			"MNS_ENDPOINT": "http://user:" + password + "@127.0.0.1:9100",
			"SAS_ENDPOINT": "https://user:" + password + "@tds.example.com/x",
		}))
		if err != nil {
			// MNS_ENDPOINT's own check must not quote the password either.
			if strings.Contains(err.Error(), password) {
				t.Errorf("the error quotes the password %q: %v", password, err)
			}
			continue
		}
		for _, name := range []string{"MNS_ENDPOINT", "SAS_ENDPOINT"} {
			if got := shown(c, name); strings.Contains(got, password) || strings.Contains(got, "user") || !strings.Contains(got, "[redacted]@") {
				t.Errorf("%s with password %q shows as %q", name, password, got)
			}
		}
	}
	c, _ := Load(env(map[string]string{"FC_REGION": "cn-hangzhou", "FC_ACCOUNT_ID": "123"}))
	if got := shown(c, "MNS_ENDPOINT"); !strings.HasPrefix(got, "https://123.mns.cn-hangzhou.aliyuncs.com (public") {
		t.Errorf("MNS_ENDPOINT shows as %q, want the public endpoint", got)
	}
}

func TestMessageLanguages(t *testing.T) {
	cases := []struct {
		env                     map[string]string
		slack, dingTalk, feishu string
		bad                     string
	}{
		{env: map[string]string{}, slack: "en", dingTalk: "en", feishu: "en"},
		{env: map[string]string{"MESSAGE_LANG": "zh"}, slack: "zh", dingTalk: "zh", feishu: "zh"},
		{env: map[string]string{"MESSAGE_LANG": "ZH", "SLACK_LANG": "en"}, slack: "en", dingTalk: "zh", feishu: "zh"},
		{env: map[string]string{"FEISHU_LANG": "zh"}, slack: "en", dingTalk: "en", feishu: "zh"},
		{env: map[string]string{"MESSAGE_LANG": "fr"}, bad: "MESSAGE_LANG"},
		{env: map[string]string{"DINGTALK_LANG": "zh-CN"}, bad: "DINGTALK_LANG"},
	}
	for _, tc := range cases {
		c, err := Load(func(k string) string { return tc.env[k] })
		switch {
		case tc.bad != "":
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.bad)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case c.SlackLang != tc.slack || c.DingTalkLang != tc.dingTalk || c.FeishuLang != tc.feishu:
			t.Errorf("%v: languages %s/%s/%s, want %s/%s/%s", tc.env, c.SlackLang, c.DingTalkLang, c.FeishuLang, tc.slack, tc.dingTalk, tc.feishu)
		}
	}
}

// Feishu posts through a custom bot's webhook or an app bot: each alone
// is a valid setting, an app bot needs all three of its values, and the
// two together, or a setting of one beside the other, are refused naming
// the variables and never the secrets.
func TestFeishuModes(t *testing.T) {
	const (
		hook      = "https://open.feishu.cn/open-apis/bot/v2/hook/hooksecret0001"
		appSecret = "appsecret0001"
	)
	app := map[string]string{"FEISHU_APP_ID": "cli_a1", "FEISHU_APP_SECRET": appSecret, "FEISHU_CHAT_ID": "oc_c1"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name    string
		env     map[string]string
		appBot  bool
		apiURL  string
		failing []string // variables the error names; none for a valid setting
	}{
		{name: "off", env: map[string]string{}},
		{name: "webhook", env: map[string]string{"FEISHU_WEBHOOK_URL": hook, "FEISHU_SECRET": "signsecret0001"}},
		{name: "app bot", env: app, appBot: true, apiURL: DefaultFeishuAPIURL},
		{name: "app bot on Lark", env: with(app, "FEISHU_API_URL", "https://open.larksuite.com"), appBot: true, apiURL: "https://open.larksuite.com"},
		{name: "both", env: with(app, "FEISHU_WEBHOOK_URL", hook), failing: []string{"FEISHU_WEBHOOK_URL", "FEISHU_APP_ID"}},
		{name: "webhook and a chat", env: map[string]string{"FEISHU_WEBHOOK_URL": hook, "FEISHU_CHAT_ID": "oc_c1"}, failing: []string{"FEISHU_WEBHOOK_URL", "FEISHU_CHAT_ID"}},
		{name: "app id alone", env: map[string]string{"FEISHU_APP_ID": "cli_a1"}, failing: []string{"FEISHU_APP_SECRET", "FEISHU_CHAT_ID"}},
		{name: "no chat", env: with(app, "FEISHU_CHAT_ID", ""), failing: []string{"FEISHU_CHAT_ID"}},
		{name: "secret without an app id", env: map[string]string{"FEISHU_APP_SECRET": appSecret, "FEISHU_CHAT_ID": "oc_c1"}, failing: []string{"FEISHU_APP_ID"}},
		{name: "signing secret for an app bot", env: with(app, "FEISHU_SECRET", "signsecret0001"), failing: []string{"FEISHU_SECRET"}},
		{name: "API URL without an app bot", env: map[string]string{"FEISHU_API_URL": "https://open.larksuite.com"}, failing: []string{"FEISHU_API_URL"}},
		{name: "API URL not http", env: with(app, "FEISHU_API_URL", "open.larksuite.com"), failing: []string{"FEISHU_API_URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if len(tc.failing) > 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, name := range tc.failing {
					if !strings.Contains(err.Error(), name) {
						t.Errorf("error does not name %s: %v", name, err)
					}
				}
				for _, leak := range []string{appSecret, "hooksecret0001", "signsecret0001"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error leaks %q: %v", leak, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.FeishuAppBot() != tc.appBot || c.FeishuEnabled() != (len(tc.env) > 0) || c.FeishuAPIURL != tc.apiURL {
				t.Fatalf("app bot %v, enabled %v, API %q", c.FeishuAppBot(), c.FeishuEnabled(), c.FeishuAPIURL)
			}
			if dump := fmt.Sprint(c.Redacted()) + fmt.Sprintf("%+v", c); strings.Contains(dump, appSecret) || strings.Contains(dump, "hooksecret0001") {
				t.Errorf("dump leaks a secret: %s", dump)
			}
		})
	}
}
