package feishu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"precheckwatch/failure"
	"precheckwatch/localcloud/fault"
	feishuemu "precheckwatch/localcloud/feishu"
	"precheckwatch/notify"
	"precheckwatch/notify/feishu"
	"precheckwatch/notify/notifytest"
	"precheckwatch/secret"
)

const (
	appID     = "cli_sinktest0001"
	appSecret = "sinktestappsecret0123"
	chatID    = "oc_sinktestchat"
)

// openPlatform starts a Feishu emulator whose app's bot is in chatID, and
// another chat the bot is not in.
func openPlatform(t *testing.T, faults *fault.Injector, hangAfterDelivery bool) (*feishuemu.Server, *httptest.Server) {
	t.Helper()
	emu := feishuemu.New(feishuemu.Config{
		Apps:   []feishuemu.App{{Name: "oncall app", ID: appID, Secret: appSecret}},
		Chats:  []feishuemu.Chat{{ID: chatID, Members: []string{appID}}, {ID: "oc_elsewhere"}},
		Faults: faults, HangAfterDelivery: hangAfterDelivery,
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

func newAppBot(t *testing.T, srv *httptest.Server, secretValue, chat string) *feishu.AppBot {
	t.Helper()
	b, err := feishu.NewApp(feishu.AppConfig{
		AppID: appID, AppSecret: secret.Value(secretValue), ChatID: chat, APIURL: srv.URL,
		HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t), Renderer: feishu.Renderer{AtUserIDs: []string{"ou_oncall"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appVerdict(t *testing.T, b *feishu.AppBot, key string) notify.Message {
	f := notifytest.Fixtures(t)[2]
	m := b.Verdict(f.Task, f.Outcome)
	m.Key = key
	return m
}

func TestAppSend(t *testing.T) {
	cases := []struct {
		name string
		// faults hit the message request; onToken, the token request.
		faults    fault.Kind
		onToken   bool
		hangAfter bool
		secret    string
		chat      string
		// giveUpWhen, when set, is a count Feishu raises once it holds the
		// hung request: the send gives up then.
		giveUpWhen func(*feishuemu.Server) int
		op         string
		class      failure.Class
		code       string
		httpStatus int
		retryAfter time.Duration
		ambiguous  bool
		unposted   bool
		recorded   int
	}{
		{name: "sent", recorded: 1},
		{name: "wrong app secret", secret: "other", op: "token", class: failure.Auth, code: "10014", httpStatus: 400, unposted: true},
		{name: "bot not in the chat", chat: "oc_elsewhere", op: "send", class: failure.Permanent, code: "230002", httpStatus: 400, unposted: true},
		{name: "unknown chat", chat: "oc_nosuch", op: "send", class: failure.Permanent, code: "230001", httpStatus: 400, unposted: true},
		{name: "throttled", faults: fault.Throttle, op: "send", class: failure.Throttled, code: "99991400", httpStatus: 429, unposted: true, retryAfter: time.Second},
		{name: "server error", faults: fault.Server, op: "send", class: failure.Transient, httpStatus: 500},
		{name: "hang", faults: fault.Hang, giveUpWhen: (*feishuemu.Server).Requests, op: "send", class: failure.Transient, ambiguous: true},
		{name: "answer lost after delivery", faults: fault.Hang, hangAfter: true, giveUpWhen: delivered,
			op: "send", class: failure.Transient, ambiguous: true, recorded: 1},
		{name: "token endpoint throttled", faults: fault.Throttle, onToken: true, op: "token", class: failure.Throttled, code: "99991400", httpStatus: 429, unposted: true, retryAfter: time.Second},
		{name: "token endpoint failing", faults: fault.Server, onToken: true, op: "token", class: failure.Transient, httpStatus: 500, unposted: true},
		{name: "token answer lost", faults: fault.Hang, onToken: true, hangAfter: true, giveUpWhen: (*feishuemu.Server).TokensIssued, op: "token", class: failure.Transient, unposted: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			faults := fault.New(1)
			emu, srv := openPlatform(t, faults, tc.hangAfter)
			sec, chat := appSecret, chatID
			if tc.secret != "" {
				sec = tc.secret
			}
			if tc.chat != "" {
				chat = tc.chat
			}
			b := newAppBot(t, srv, sec, chat)
			before := 0
			if tc.faults != "" && !tc.onToken {
				// Fetch the token before the faults start.
				if out := b.Send(notifytest.Within(t, 5*time.Second), appVerdict(t, b, "warm:feishu:PASSED")); !out.Sent() {
					t.Fatalf("warm-up %+v", out)
				}
				before = 1
			}
			if tc.faults != "" {
				faults.Set(tc.faults, 1)
			}
			ctx := notifytest.Within(t, 5*time.Second)
			if tc.giveUpWhen != nil {
				ctx = notifytest.GiveUpWhenRises(t, func() int { return tc.giveUpWhen(emu) })
			}
			out := b.Send(ctx, appVerdict(t, b, "t-1:feishu:FAILED"))
			f := notifytest.Failure(out)
			if f.Op != tc.op || f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.httpStatus || f.RetryAfter != tc.retryAfter ||
				out.Ambiguous != tc.ambiguous || out.Unposted != tc.unposted || (tc.class != 0 && f.Service != feishu.Name) {
				t.Fatalf("outcome %+v, failure %+v", out, f)
			}
			if tc.giveUpWhen != nil && !errors.Is(out.Err, context.Canceled) {
				t.Fatalf("error %v of a send given up is not the context's", out.Err)
			}
			if n := len(emu.Messages()) - before; n != tc.recorded {
				t.Fatalf("%d delivered, want %d", n, tc.recorded)
			}
			notifytest.NoSecrets(t, out, fmt.Sprint(b), appSecret, sec)
		})
	}
}

// The point of the app bot: a send whose answer was lost after delivery
// is repeated under the same key, and the chat shows it once; a message of
// another key is another post.
func TestAppRepeatAfterALostAnswerPostsOnce(t *testing.T) {
	faults := fault.New(1)
	emu, srv := openPlatform(t, faults, true)
	b := newAppBot(t, srv, appSecret, chatID)
	m := appVerdict(t, b, "t-1:feishu:FAILED")
	if out := b.Send(notifytest.Within(t, 5*time.Second), appVerdict(t, b, "t-0:feishu:PASSED")); !out.Sent() {
		t.Fatalf("first %+v", out)
	}
	faults.Set(fault.Hang, 1)
	if out := b.Send(notifytest.GiveUpWhenRises(t, func() int { return delivered(emu) }), m); !out.Ambiguous {
		t.Fatalf("lost answer %+v", out)
	}
	if n := len(emu.Messages()); n != 2 {
		t.Fatalf("%d delivered behind the lost answer, want 2", n)
	}
	faults.Reset()
	if out := b.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
		t.Fatalf("repeat %+v", out)
	}
	if n := len(emu.Messages()); n != 2 {
		t.Fatalf("%d delivered, want 2: the repeat posted again", n)
	}
	// A key longer than Feishu's 50 characters goes out under its hash:
	// still once.
	long := appVerdict(t, b, strings.Repeat("k", 64))
	for range 2 {
		if out := b.Send(notifytest.Within(t, 5*time.Second), long); !out.Sent() {
			t.Fatalf("long key %+v", out)
		}
	}
	if n := len(emu.Messages()); n != 3 {
		t.Fatalf("%d delivered, want 3", n)
	}
}

// One token serves many sends; a token the API refuses is renewed and the
// card sent at once, posted once.
func TestAppTokenCachedAndRenewed(t *testing.T) {
	emu, srv := openPlatform(t, nil, false)
	b := newAppBot(t, srv, appSecret, chatID)
	for i := range 3 {
		if out := b.Send(notifytest.Within(t, 5*time.Second), appVerdict(t, b, fmt.Sprintf("t-%d:feishu:FAILED", i))); !out.Sent() {
			t.Fatalf("send %d: %+v", i, out)
		}
	}
	if n := emu.TokensIssued(); n != 1 {
		t.Fatalf("%d tokens fetched for 3 sends, want 1", n)
	}
	emu.RevokeTokens()
	if out := b.Send(notifytest.Within(t, 5*time.Second), appVerdict(t, b, "t-9:feishu:FAILED")); !out.Sent() {
		t.Fatalf("after revocation %+v", out)
	}
	if n, tokens := len(emu.Messages()), emu.TokensIssued(); n != 4 || tokens != 2 {
		t.Fatalf("%d delivered with %d tokens, want 4 with 2", n, tokens)
	}
}

// A token is renewed before it expires, by the token's own lifetime.
func TestAppTokenRenewedBeforeExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1800000000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	emu := feishuemu.New(feishuemu.Config{
		Apps:  []feishuemu.App{{ID: appID, Secret: appSecret}},
		Chats: []feishuemu.Chat{{ID: chatID, Members: []string{appID}}},
		Now:   clock,
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, err := feishu.NewApp(feishu.AppConfig{AppID: appID, AppSecret: appSecret, ChatID: chatID, APIURL: srv.URL,
		HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	send := func(key string) {
		t.Helper()
		if out := b.Send(notifytest.Within(t, 5*time.Second), appVerdict(t, b, key)); !out.Sent() {
			t.Fatalf("%s: %+v", key, out)
		}
	}
	send("a:feishu:FAILED")
	mu.Lock()
	now = now.Add(feishuemu.DefaultTokenTTL - time.Minute)
	mu.Unlock()
	send("b:feishu:FAILED")
	if n := emu.TokensIssued(); n != 2 {
		t.Fatalf("%d tokens, want a second one near the first's expiry", n)
	}
}

// The card arrives as rendered, the mention as a mention, in the chat.
func TestAppDeliversTheCard(t *testing.T) {
	emu, srv := openPlatform(t, nil, false)
	b := newAppBot(t, srv, appSecret, chatID)
	m := appVerdict(t, b, "t-1:feishu:FAILED")
	if out := b.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
		t.Fatalf("outcome %+v", out)
	}
	got := emu.Messages()
	if len(got) != 1 || got[0].Chat != chatID || got[0].MsgType != "interactive" || strings.Join(got[0].Mentions, ",") != "ou_oncall" {
		t.Fatalf("delivered %+v", got)
	}
	c := m.Content.(feishu.Content)
	for _, want := range append(strings.Split(c.Body, "\n"), c.Title, c.Note, c.URL) {
		if !strings.Contains(got[0].PlainText(), want) {
			t.Errorf("delivered card lacks %q", want)
		}
	}
}

// A digest of many big verdicts fits the app bot's 30 KB and is posted,
// its pages paced to the chat's 5 a second.
func TestAppSendsABigDigest(t *testing.T) {
	emu, srv := openPlatform(t, nil, false)
	b, err := feishu.NewApp(feishu.AppConfig{AppID: appID, AppSecret: appSecret, ChatID: chatID, APIURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var items []notify.Finished
	for range 20 {
		for _, f := range notifytest.Fixtures(t) {
			items = append(items, f.Finished)
		}
	}
	pages := b.Digest(items)
	for i, p := range pages {
		p.Message.Key = fmt.Sprintf("digest-%d", i)
		if out := b.Send(notifytest.Within(t, 10*time.Second), p.Message); !out.Sent() {
			t.Fatalf("page %d of %d: %+v", i+1, len(pages), out)
		}
	}
	if n := len(emu.Messages()); n != len(pages) {
		t.Fatalf("%d delivered, want %d", n, len(pages))
	}
}

// The answers no emulator gives: each is classified, and none shows the
// app secret or the token.
func TestAppReadsUnexpectedAnswers(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		class      failure.Class
		code       string
		ambiguous  bool
		unposted   bool
		retryAfter time.Duration
	}{
		{name: "gateway page", status: 502, body: "<html>bad gateway</html>", class: failure.Transient},
		{name: "answer not JSON", status: 200, body: "<html>ok</html>", class: failure.Transient, ambiguous: true},
		{name: "JSON without a code", status: 200, body: `{"msg":"success"}`, class: failure.Transient, ambiguous: true},
		{name: "429 without JSON", status: 429, header: map[string]string{"x-ogw-ratelimit-reset": "7"}, body: "slow down", class: failure.Throttled, unposted: true, retryAfter: 7 * time.Second},
		{name: "rate limit on HTTP 400", status: 400, header: map[string]string{"x-ogw-ratelimit-reset": "3"}, body: `{"code":99991400,"msg":"request trigger frequency limit"}`, class: failure.Throttled, code: "99991400", unposted: true, retryAfter: 3 * time.Second},
		{name: "chat frequency", status: 400, body: `{"code":230020,"msg":"This operation triggers the frequency limit."}`, class: failure.Throttled, code: "230020", unposted: true, retryAfter: time.Second},
		{name: "content too long", status: 400, body: `{"code":230025,"msg":"The length of the message content reaches its limit."}`, class: failure.Permanent, code: "230025", unposted: true},
		{name: "no permission", status: 400, body: `{"code":99991672,"msg":"Access denied"}`, class: failure.Auth, code: "99991672", unposted: true},
		{name: "internal error with a code", status: 500, body: `{"code":1000,"msg":"internal error"}`, class: failure.Transient, code: "1000"},
		{name: "token refused twice", status: 400, body: `{"code":99991663,"msg":"Invalid access token t-servedtoken0001"}`, class: failure.Auth, code: "99991663", unposted: true},
		{name: "message echoing the secret", status: 400, body: `{"code":230001,"msg":"bad app_secret ` + appSecret + `"}`, class: failure.Permanent, code: "230001", unposted: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == feishuemu.TokenPath {
					io.WriteString(w, `{"code":0,"msg":"ok","tenant_access_token":"t-servedtoken0001","expire":7200}`)
					return
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			b := newAppBot(t, srv, appSecret, chatID)
			out := b.Send(notifytest.Within(t, 5*time.Second), appVerdict(t, b, "k"))
			f := notifytest.Failure(out)
			if f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.status || out.Ambiguous != tc.ambiguous || out.Unposted != tc.unposted || f.RetryAfter != tc.retryAfter {
				t.Fatalf("outcome %+v, failure %+v", out, f)
			}
			notifytest.NoSecrets(t, out, fmt.Sprint(b), appSecret, "t-servedtoken0001")
		})
	}
}

func TestAppConfigErrors(t *testing.T) {
	cases := map[string]feishu.AppConfig{
		"no app id":     {AppSecret: appSecret, ChatID: chatID},
		"no app secret": {AppID: appID, ChatID: chatID},
		"no chat":       {AppID: appID, AppSecret: appSecret},
		"bad API URL":   {AppID: appID, AppSecret: appSecret, ChatID: chatID, APIURL: "ftp://open.feishu.cn"},
	}
	for name, cfg := range cases {
		if _, err := feishu.NewApp(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), appSecret) {
			t.Errorf("%s: error %q shows the secret", name, err)
		}
	}
}

// The app bot settles lost answers by repeating them; the custom bot
// cannot.
func TestOnlyTheAppBotIsIdempotent(t *testing.T) {
	_, srv := openPlatform(t, nil, false)
	var app notify.Sink = newAppBot(t, srv, appSecret, chatID)
	if _, ok := app.(notify.Idempotent); !ok {
		t.Error("the app bot is not a notify.Idempotent")
	}
	_, hook := group(t, nil, false)
	var bot notify.Sink = newBot(t, hook, botToken, botSecret, 0)
	if _, ok := bot.(notify.Idempotent); ok {
		t.Error("the custom bot claims to deduplicate")
	}
	m := appVerdict(t, app.(*feishu.AppBot), "k")
	kept, err := json.Marshal(m.Content) // as the delivery record keeps it
	if err != nil {
		t.Fatal(err)
	}
	c, err := app.(notify.Idempotent).Restore(kept)
	if err != nil || c.(feishu.Content).Body != m.Content.(feishu.Content).Body || c.Check() != nil {
		t.Fatalf("restored %v, %v", c, err)
	}
}
