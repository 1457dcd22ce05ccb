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
		"redis://:pw@127.0.0.1:6379/0":                                "redis://127.0.0.1:6379/" + Mask,
		"http://127.0.0.1:9100":                                       "http://127.0.0.1:9100",
		"not a url":                                                   Mask,
		"https://user:pass@example.com/robot/send?access_token=x&s=1": "https://example.com/" + Mask + "?" + Mask,
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
