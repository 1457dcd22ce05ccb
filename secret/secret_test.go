package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	const raw = "xoxb-super-secret"
	v := Value(raw)
	creds := Credentials{AccessKeyID: "LTAIpublic", AccessKeySecret: "sk-hidden", SecurityToken: "tok-hidden"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "token", v, "creds", creds)
	report, err := json.Marshal(struct {
		Token Value
		Creds Credentials
	}{v, creds})
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join([]string{
		v.String(), fmt.Sprint(v), fmt.Sprintf("%v %s %q %#v %+v", v, v, v, v, creds),
		fmt.Errorf("wrapped: %v", v).Error(), errors.New(fmt.Sprint(creds)).Error(), logged.String(), string(report),
	}, "\n")
	for _, leak := range []string{raw, "sk-hidden", "tok-hidden"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q leaked:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, Mask) || !strings.Contains(out, "LTAIpublic") {
		t.Errorf("mask or public id missing:\n%s", out)
	}
	if v.Reveal() != raw || !v.Set() || Value("").Set() || Value("").String() != "" {
		t.Error("Reveal/Set/empty behave wrongly")
	}
	if !creds.Complete() || (Credentials{AccessKeyID: "x"}).Complete() {
		t.Error("Complete behaves wrongly")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/XYZ":                  "https://hooks.slack.com/" + Mask,
		"https://oapi.dingtalk.com/robot/send?access_token=abc":       "https://oapi.dingtalk.com/" + Mask + "?" + Mask,
		"redis://:pw@127.0.0.1:6379/0":                                "redis://" + Mask + "@127.0.0.1:6379/" + Mask,
		"redis://:p/w#x?y@127.0.0.1:6379/0":                           "redis://" + Mask + "@127.0.0.1:6379/" + Mask,
		"http://127.0.0.1:9100":                                       "http://127.0.0.1:9100",
		"not a url":                                                   Mask,
		"https://user:pass@example.com/robot/send?access_token=x&s=1": "https://" + Mask + "@example.com/" + Mask + "?" + Mask,
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactUserinfo(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9100":                   "http://127.0.0.1:9100",
		"http://u:p@127.0.0.1:9100":               "http://" + Mask + "@127.0.0.1:9100",
		"https://u:a/b?c#d@e@tds.example.com/x?q": "https://" + Mask + "@tds.example.com/x?q",
		"tds.example.com":                         "tds.example.com",
		"u:p@tds.example.com":                     Mask,
	} {
		if got := RedactUserinfo(in); got != want {
			t.Errorf("RedactUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactPassword puts any password into the URLs the function is given
// and checks the redacted forms are exactly the URL without it, so that no
// part of it can show, whatever characters it holds.
func FuzzRedactPassword(f *testing.F) {
	for _, p := range []string{"pw", "p/ss", "p#ss", "p?ss", "p@ss", "a:b/c?d#e@f", "%2F", "", "\x00\xff", "://", "@@@"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, password string) {
		for _, tc := range []struct{ raw, userinfo, url string }{
			{"redis://:" + password + "@r-1.redis.rds.aliyuncs.com:6379/0",
				"redis://" + Mask + "@r-1.redis.rds.aliyuncs.com:6379/0", "redis://" + Mask + "@r-1.redis.rds.aliyuncs.com:6379/" + Mask},
			{"rediss://default:" + password + "@10.0.0.1:6380",
				"rediss://" + Mask + "@10.0.0.1:6380", "rediss://" + Mask + "@10.0.0.1:6380"},
			{"http://user:" + password + "@127.0.0.1:9100",
				"http://" + Mask + "@127.0.0.1:9100", "http://" + Mask + "@127.0.0.1:9100"},
		} {
			if got := RedactUserinfo(tc.raw); got != tc.userinfo {
				t.Errorf("RedactUserinfo(%q) = %q, want %q", tc.raw, got, tc.userinfo)
			}
			if got := RedactURL(tc.raw); got != tc.url {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.raw, got, tc.url)
			}
		}
	})
}
