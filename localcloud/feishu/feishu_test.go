package feishu_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud/clock"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/feishu"
)

func group(t *testing.T, faults *fault.Injector) (*feishu.Server, *httptest.Server, *clock.Manual) {
	t.Helper()
	c := clock.At(time.Unix(1800000000, 0))
	emu := feishu.New(feishu.Config{
		Bots: []feishu.Bot{
			{Name: "signed", Token: "signed-token", Secret: "bot-secret"},
			{Name: "keyword", Token: "keyword-token", Keywords: []string{"precheck", "预检查"}},
			{Name: "elsewhere", Token: "ip-token", AllowedIPs: []string{"203.0.113.7"}},
		},
		Faults: faults,
		Now:    c.Now,
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv, c
}

// sign is the documented signature: the key is timestamp+"\n"+secret, the
// message empty.
func sign(ts int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(ts, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func card(title, markdown string) map[string]any {
	return map[string]any{"msg_type": "interactive", "card": map[string]any{
		"header":   map[string]any{"title": map[string]any{"tag": "plain_text", "content": title}, "template": "red"},
		"elements": []any{map[string]any{"tag": "markdown", "content": markdown}},
	}}
}

func post(t *testing.T, srv *httptest.Server, token string, body any) (int, string) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Post(srv.URL+feishu.HookPath+token, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if resp.StatusCode != http.StatusOK {
		return -resp.StatusCode, ""
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a.Code, a.Msg
}

func TestChecks(t *testing.T) {
	now := int64(1800000000)
	signedCard := func(ts int64, secret string) map[string]any {
		c := card("❌ FAILED precheck", "body")
		c["timestamp"], c["sign"] = strconv.FormatInt(ts, 10), sign(ts, secret)
		return c
	}
	cases := []struct {
		name  string
		token string
		body  any
		code  int
	}{
		{"signed", "signed-token", signedCard(now, "bot-secret"), feishu.CodeOK},
		{"signed 59 minutes ago", "signed-token", signedCard(now-59*60, "bot-secret"), feishu.CodeOK},
		{"wrong secret", "signed-token", signedCard(now, "other"), feishu.CodeSignMismatch},
		{"stale timestamp", "signed-token", signedCard(now-2*3600, "bot-secret"), feishu.CodeSignMismatch},
		{"milliseconds, not seconds", "signed-token", signedCard(now*1000, "bot-secret"), feishu.CodeSignMismatch},
		{"unsigned for a signing bot", "signed-token", card("t", "x"), feishu.CodeSignMismatch},
		{"keyword in the title", "keyword-token", card("❌ FAILED precheck", "x"), feishu.CodeOK},
		{"keyword in the body", "keyword-token", card("t", "数据库备份预检查"), feishu.CodeOK},
		{"keyword missing", "keyword-token", card("t", "x"), feishu.CodeKeywordMissing},
		{"caller not allowed", "ip-token", card("t", "x"), feishu.CodeIPNotAllowed},
		{"unknown token", "nosuchtoken", card("t", "x"), feishu.CodeTokenInvalid},
		{"unknown msg_type", "keyword-token", map[string]any{"msg_type": "video", "content": map[string]any{}}, feishu.CodeBadRequest},
		{"empty card", "keyword-token", map[string]any{"msg_type": "interactive", "card": map[string]any{}}, feishu.CodeBadRequest},
		{"over 20 KB", "keyword-token", card("precheck", strings.Repeat("x", 21000)), feishu.CodeBadRequest},
		{"text", "keyword-token", map[string]any{"msg_type": "text", "content": map[string]any{"text": "precheck"}}, feishu.CodeOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, srv, _ := group(t, nil)
			code, msg := post(t, srv, tc.token, tc.body)
			if code != tc.code {
				t.Fatalf("code %d (%s), want %d", code, msg, tc.code)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == feishu.CodeOK]; len(emu.Messages()) != want {
				t.Fatalf("%d delivered, want %d", len(emu.Messages()), want)
			}
		})
	}
}

// Five a second and a hundred a minute per bot: the sixth within a second
// and the hundred-and-first within a minute are refused.
func TestRateLimits(t *testing.T) {
	emu, srv, c := group(t, nil)
	send := func() int { code, _ := post(t, srv, "keyword-token", card("precheck", "x")); return code }
	for i := range 5 {
		if code := send(); code != feishu.CodeOK {
			t.Fatalf("message %d: code %d", i+1, code)
		}
	}
	if code := send(); code != feishu.CodeFrequencyLimited {
		t.Fatalf("sixth in a second: code %d", code)
	}
	for i := 5; i < 100; i++ {
		if i%5 == 0 {
			c.Advance(time.Second)
		}
		if code := send(); code != feishu.CodeOK {
			t.Fatalf("message %d: code %d", i+1, code)
		}
	}
	c.Advance(time.Second)
	if code := send(); code != feishu.CodeFrequencyLimited {
		t.Fatalf("101st in a minute: code %d", code)
	}
	c.Advance(time.Minute)
	if code := send(); code != feishu.CodeOK {
		t.Fatalf("a minute later: code %d", code)
	}
	if n := len(emu.Messages()); n != 101 {
		t.Fatalf("%d delivered, want 101", n)
	}
}

func TestRecordsWhatTheGroupSees(t *testing.T) {
	emu, srv, _ := group(t, nil)
	c := card("⚠️ WARNING precheck · billing", "**1 warning** <at id=ou_oncall></at>")
	c["card"].(map[string]any)["elements"] = append(c["card"].(map[string]any)["elements"].([]any),
		map[string]any{"tag": "note", "elements": []any{map[string]any{"tag": "lark_md", "content": "task t-1"}}},
		map[string]any{"tag": "action", "actions": []any{map[string]any{"tag": "button", "text": map[string]any{"tag": "plain_text", "content": "Open"}, "url": "https://example.com/c"}}})
	if code, msg := post(t, srv, "keyword-token", c); code != feishu.CodeOK {
		t.Fatalf("code %d %s", code, msg)
	}
	got := emu.Messages()
	if len(got) != 1 {
		t.Fatalf("%d delivered", len(got))
	}
	d := got[0]
	for _, want := range []string{"⚠️ WARNING precheck · billing", "**1 warning**", "task t-1", "Open", "https://example.com/c"} {
		if !strings.Contains(d.PlainText(), want) {
			t.Errorf("record lacks %q:\n%s", want, d.PlainText())
		}
	}
	if d.Bot != "keyword" || d.MsgType != "interactive" || strings.Join(d.Mentions, ",") != "ou_oncall" {
		t.Errorf("recorded %+v", d)
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		kind fault.Kind
		code int
	}{
		{fault.Throttle, feishu.CodeFrequencyLimited},
		{fault.Server, -http.StatusInternalServerError},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			faults := fault.New(1)
			faults.Set(tc.kind, 1)
			emu, srv, _ := group(t, faults)
			if code, _ := post(t, srv, "keyword-token", card("precheck", "x")); code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			if len(emu.Messages()) != 0 || emu.Requests() != 1 {
				t.Fatalf("%d delivered of %d requests", len(emu.Messages()), emu.Requests())
			}
		})
	}
}
