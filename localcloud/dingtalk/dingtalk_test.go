package dingtalk_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/clock"
	"precheckwatch/localcloud/dingtalk"
	"precheckwatch/localcloud/fault"
)

const secret = "SECtestsecret0123456789"

func newServer(t *testing.T, mutate func(*dingtalk.Config)) (*dingtalk.Server, *httptest.Server, *clock.Manual) {
	t.Helper()
	clock := clock.At(time.Unix(1800000000, 0))
	cfg := dingtalk.Config{
		Robots: []dingtalk.Robot{
			{Name: "plain", Token: "tok-plain"},
			{Name: "signed", Token: "tok-signed", Secret: secret},
			{Name: "keyword", Token: "tok-keyword", Keywords: []string{"precheck"}},
		},
		Now: clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	emu := dingtalk.New(cfg)
	ts := httptest.NewServer(emu)
	t.Cleanup(ts.Close)
	return emu, ts, clock
}

type answer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// call sends one request and decodes the answer, which must be HTTP 200.
func call(t *testing.T, ctx context.Context, ts *httptest.Server, method, query, ctype, body string) (answer, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, ts.URL+"/robot/send?"+query, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a, nil
}

func signed(token string, at time.Time, key string) string {
	ms := strconv.FormatInt(at.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ms + "\n" + key))
	q := url.Values{"access_token": {token}, "timestamp": {ms}, "sign": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}}
	return q.Encode()
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

const markdown = `{"msgtype":"markdown","msgUuid":"u1","markdown":{"title":"precheck task-1","text":"FAILED @13800000000"},"at":{"atMobiles":["13800000000"],"isAtAll":false}}`

func TestAnswers(t *testing.T) {
	const js = "application/json; charset=utf-8"
	long := `{"msgtype":"text","text":{"content":"` + strings.Repeat("x", 20000) + `"}}`
	cases := []struct {
		name, method, query, ctype, body string
		code                             int
		msgPrefix                        string
	}{
		{"markdown", "POST", "access_token=tok-plain", js, markdown, 0, "ok"},
		{"text", "POST", "access_token=tok-plain", js, `{"msgtype":"text","text":{"content":"hi"}}`, 0, "ok"},
		{"action card", "POST", "access_token=tok-plain", js, `{"msgtype":"actionCard","actionCard":{"title":"t","text":"x","singleTitle":"Open","singleURL":"https://e"}}`, 0, "ok"},
		{"GET", "GET", "access_token=tok-plain", "", "", 43002, ""},
		{"no token", "POST", "", js, markdown, 40035, "缺少参数 access_token"},
		{"unknown token", "POST", "access_token=nope", js, markdown, 300005, "token is not exist"},
		{"form body", "POST", "access_token=tok-plain", "application/x-www-form-urlencoded", "a=b", 43004, ""},
		{"not json", "POST", "access_token=tok-plain", js, "{", 40035, "缺少参数 json"},
		{"unknown msgtype", "POST", "access_token=tok-plain", js, `{"msgtype":"sticker"}`, 40008, ""},
		{"markdown no title", "POST", "access_token=tok-plain", js, `{"msgtype":"markdown","markdown":{"text":"x"}}`, 40035, "缺少参数 markdown.title"},
		{"markdown no text", "POST", "access_token=tok-plain", js, `{"msgtype":"markdown","markdown":{"title":"x"}}`, 40035, "缺少参数 markdown.text"},
		{"action card no button", "POST", "access_token=tok-plain", js, `{"msgtype":"actionCard","actionCard":{"title":"t","text":"x"}}`, 40035, ""},
		{"too long", "POST", "access_token=tok-plain", js, long, 460101, ""},
		{"unsigned", "POST", "access_token=tok-signed", js, markdown, 310000, "invalid timestamp"},
		{"keyword missing", "POST", "access_token=tok-keyword", js, `{"msgtype":"text","text":{"content":"hello"}}`, 310000, "keywords not in content"},
		{"keyword present", "POST", "access_token=tok-keyword", js, markdown, 0, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, ts, _ := newServer(t, nil)
			a, err := call(t, testCtx(t), ts, tc.method, tc.query, tc.ctype, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if a.ErrCode != tc.code || !strings.HasPrefix(a.ErrMsg, tc.msgPrefix) {
				t.Fatalf("answer %+v, want %d %q", a, tc.code, tc.msgPrefix)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == 0]; len(emu.Messages()) != want {
				t.Fatalf("%d delivered", len(emu.Messages()))
			}
		})
	}
}

func TestRecord(t *testing.T) {
	emu, ts, clock := newServer(t, nil)
	if a, _ := call(t, testCtx(t), ts, "POST", "access_token=tok-plain", "application/json", markdown); a.ErrCode != 0 {
		t.Fatalf("answer %+v", a)
	}
	got := emu.RobotMessages("plain")
	if len(got) != 1 {
		t.Fatalf("delivered %+v", got)
	}
	d := got[0]
	if d.MsgType != "markdown" || d.Title != "precheck task-1" || d.Text != "FAILED @13800000000" ||
		len(d.AtMobiles) != 1 || d.AtMobiles[0] != "13800000000" || d.MsgUUID != "u1" || !d.At.Equal(clock.Now()) {
		t.Fatalf("delivered %+v", d)
	}
	if want := "precheck task-1\nFAILED @13800000000\n(mentions @13800000000)"; d.PlainText() != want {
		t.Fatalf("plain text %q", d.PlainText())
	}
}

func TestSignature(t *testing.T) {
	cases := []struct {
		name   string
		offset time.Duration
		key    string
		code   int
		msg    string
	}{
		{"fresh", 0, secret, 0, "ok"},
		{"59 minutes old", -59 * time.Minute, secret, 0, "ok"},
		{"wrong secret", 0, "SECwrong", 310000, "sign not match"},
		{"two hours old", -2 * time.Hour, secret, 310000, "invalid timestamp"},
		{"from the future", 2 * time.Hour, secret, 310000, "invalid timestamp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ts, clock := newServer(t, nil)
			a, err := call(t, testCtx(t), ts, "POST", signed("tok-signed", clock.Now().Add(tc.offset), tc.key), "application/json", markdown)
			if err != nil {
				t.Fatal(err)
			}
			if a.ErrCode != tc.code || !strings.HasPrefix(a.ErrMsg, tc.msg) {
				t.Fatalf("answer %+v", a)
			}
		})
	}
}

func TestRateLimitBlocksTenMinutes(t *testing.T) {
	emu, ts, clock := newServer(t, nil)
	send := func(i int) answer {
		body := `{"msgtype":"text","msgUuid":"m` + strconv.Itoa(i) + `","text":{"content":"n"}}`
		a, err := call(t, testCtx(t), ts, "POST", "access_token=tok-plain", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for i := 0; i < 20; i++ {
		clock.Advance(time.Second)
		if a := send(i); a.ErrCode != 0 {
			t.Fatalf("message %d: %+v", i+1, a)
		}
	}
	if a := send(20); a.ErrCode != 130101 || a.ErrMsg != "send too fast, exceed 20 times per minute" {
		t.Fatalf("21st: %+v", a)
	}
	clock.Advance(9 * time.Minute)
	if a := send(21); a.ErrCode != 130101 {
		t.Fatalf("9 minutes later: %+v", a)
	}
	clock.Advance(time.Minute)
	if a := send(22); a.ErrCode != 0 {
		t.Fatalf("10 minutes later: %+v", a)
	}
	if n := len(emu.Messages()); n != 21 {
		t.Fatalf("%d delivered, want 21", n)
	}
}

func TestMsgUUIDDedupe(t *testing.T) {
	emu, ts, _ := newServer(t, nil)
	for i := 0; i < 3; i++ {
		if a, _ := call(t, testCtx(t), ts, "POST", "access_token=tok-plain", "application/json", markdown); a.ErrCode != 0 {
			t.Fatalf("send %d: %+v", i, a)
		}
	}
	if n := len(emu.Messages()); n != 1 {
		t.Fatalf("%d delivered, want 1", n)
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		kind  fault.Kind
		after bool
		code  int
		want  int // messages delivered
	}{
		{fault.Throttle, false, 130101, 0},
		{fault.Server, false, -1, 0},
		{fault.Hang, false, 0, 0},
		{fault.Hang, true, 0, 1},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind)+map[bool]string{true: " after delivery"}[tc.after], func(t *testing.T) {
			faults := fault.New(1)
			faults.Set(tc.kind, 1)
			emu, ts, _ := newServer(t, func(c *dingtalk.Config) { c.Faults = faults; c.HangAfterDelivery = tc.after })
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if tc.kind == fault.Hang {
				// A hung request is given up once DingTalk holds it: before
				// delivery, once it arrived; after, once it was delivered.
				cancel()
				ctx, cancel = waitfor.GiveUpWhen(10*time.Second, func() bool {
					return emu.Requests() > 0 && (!tc.after || len(emu.Messages()) > 0)
				})
			}
			defer cancel()
			a, err := call(t, ctx, ts, "POST", "access_token=tok-plain", "application/json", markdown)
			if tc.kind == fault.Hang {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("got %+v %v", a, err)
				}
			} else if err != nil || a.ErrCode != tc.code {
				t.Fatalf("got %+v %v", a, err)
			}
			if n := len(emu.Messages()); n != tc.want {
				t.Fatalf("%d delivered, want %d", n, tc.want)
			}
		})
	}
}
