package feishu_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
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
	botToken  = "feishusinktesttoken0123"
	botSecret = "feishusinktestsecret"
)

var epoch = time.Unix(1800000000, 0)

// group starts a Feishu emulator with a signed bot and a keyword bot.
func group(t *testing.T, faults *fault.Injector, hangAfterDelivery bool) (*feishuemu.Server, *httptest.Server) {
	t.Helper()
	emu := feishuemu.New(feishuemu.Config{
		Bots: []feishuemu.Bot{
			{Name: "oncall", Token: botToken, Secret: botSecret},
			{Name: "keyword", Token: "kwtoken", Keywords: []string{"precheck"}},
			{Name: "strict", Token: "stricttoken", Keywords: []string{"数据库"}},
		},
		Faults: faults, HangAfterDelivery: hangAfterDelivery, Now: func() time.Time { return epoch },
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// delivered counts the messages Feishu delivered.
func delivered(emu *feishuemu.Server) int { return len(emu.Messages()) }

func newBot(t *testing.T, srv *httptest.Server, token, sec string, skew time.Duration) *feishu.Bot {
	t.Helper()
	b, err := feishu.New(feishu.Config{
		WebhookURL: secret.Value(srv.URL + "/open-apis/bot/v2/hook/" + token), Secret: secret.Value(sec),
		HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t), Now: func() time.Time { return epoch.Add(skew) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verdict(t *testing.T, b *feishu.Bot) notify.Message {
	f := notifytest.Fixtures(t)[2]
	m := b.Verdict(f.Task, f.Outcome)
	m.Key = "t-1:feishu:FAILED"
	return m
}

func TestSend(t *testing.T) {
	cases := []struct {
		name      string
		faults    fault.Kind
		hangAfter bool
		token     string
		secret    string
		skew      time.Duration
		// giveUpWhen, when set, is a count Feishu raises once it holds the
		// hung request: the send gives up then.
		giveUpWhen func(*feishuemu.Server) int
		class      failure.Class
		code       string
		httpStatus int
		retryAfter time.Duration
		ambiguous  bool
		unposted   bool // the sink is sure nothing was posted
		recorded   int
	}{
		{name: "signed", recorded: 1},
		{name: "keyword present", token: "kwtoken", secret: "-", recorded: 1},
		{name: "keyword missing", token: "stricttoken", secret: "-", class: failure.Permanent, code: "19024", httpStatus: 200, unposted: true},
		{name: "wrong secret", secret: "other", class: failure.Auth, code: "19021", httpStatus: 200, unposted: true},
		{name: "clock two hours off", skew: -2 * time.Hour, class: failure.Auth, code: "19021", httpStatus: 200, unposted: true},
		{name: "unsigned for a signing bot", secret: "-", class: failure.Auth, code: "19021", httpStatus: 200, unposted: true},
		{name: "unknown token", token: "nosuchtoken", class: failure.Auth, code: "19001", httpStatus: 200, unposted: true},
		{name: "throttled", faults: fault.Throttle, class: failure.Throttled, code: "11232", httpStatus: 200, unposted: true, retryAfter: time.Second},
		{name: "server error", faults: fault.Server, class: failure.Transient, httpStatus: 500},
		{name: "hang", faults: fault.Hang, giveUpWhen: (*feishuemu.Server).Requests, class: failure.Transient, ambiguous: true},
		{name: "answer lost after delivery", faults: fault.Hang, hangAfter: true, giveUpWhen: delivered,
			class: failure.Transient, ambiguous: true, recorded: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var faults *fault.Injector
			if tc.faults != "" {
				faults = fault.New(1)
				faults.Set(tc.faults, 1)
			}
			emu, srv := group(t, faults, tc.hangAfter)
			token, sec := botToken, botSecret
			if tc.token != "" {
				token = tc.token
			}
			switch tc.secret {
			case "":
			case "-":
				sec = ""
			default:
				sec = tc.secret
			}
			ctx := notifytest.Within(t, 5*time.Second)
			if tc.giveUpWhen != nil {
				ctx = notifytest.GiveUpWhenRises(t, func() int { return tc.giveUpWhen(emu) })
			}
			b := newBot(t, srv, token, sec, tc.skew)
			out := b.Send(ctx, verdict(t, b))
			if f := notifytest.Failure(out); f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.httpStatus || f.RetryAfter != tc.retryAfter || out.Ambiguous != tc.ambiguous || out.Unposted != tc.unposted || (tc.class != 0 && f.Service != feishu.Name) {
				t.Fatalf("outcome %+v, failure %+v", out, f)
			}
			if tc.giveUpWhen != nil && !errors.Is(out.Err, context.Canceled) {
				t.Fatalf("error %v of a send given up is not the context's", out.Err)
			}
			if n := len(emu.Messages()); n != tc.recorded {
				t.Fatalf("%d delivered, want %d", n, tc.recorded)
			}
			notifytest.NoSecrets(t, out, fmt.Sprint(b), botToken, botSecret, token)
		})
	}
}

// The card arrives as rendered: its title, every line of its body, the
// facts and the console link, and the mention as a mention.
func TestDeliversTheCardWithMentions(t *testing.T) {
	emu, srv := group(t, nil, false)
	b, err := feishu.New(feishu.Config{
		WebhookURL: secret.Value(srv.URL + "/open-apis/bot/v2/hook/" + botToken), Secret: botSecret,
		HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t), Now: func() time.Time { return epoch }, Renderer: feishu.Renderer{AtUserIDs: []string{"ou_oncall"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := verdict(t, b)
	if out := b.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
		t.Fatalf("outcome %+v", out)
	}
	got := emu.Messages()
	if len(got) != 1 {
		t.Fatalf("delivered %+v", got)
	}
	c := m.Content.(feishu.Content)
	for _, want := range append(strings.Split(c.Body, "\n"), c.Title, c.Note, c.URL) {
		if !strings.Contains(got[0].PlainText(), want) {
			t.Errorf("delivered card lacks %q", want)
		}
	}
	if got[0].MsgType != "interactive" || strings.Join(got[0].Mentions, ",") != "ou_oncall" {
		t.Errorf("delivered %+v", got[0])
	}
}

// The bot's pace is 5 a second: a sixth send within the second whose
// deadline comes first is refused at once, without a request.
func TestPacesFiveASecond(t *testing.T) {
	emu, srv := group(t, nil, false)
	b, err := feishu.New(feishu.Config{
		WebhookURL: secret.Value(srv.URL + "/open-apis/bot/v2/hook/kwtoken"), HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if out := b.Send(notifytest.Within(t, 5*time.Second), verdict(t, b)); !out.Sent() {
			t.Fatalf("send %d: %+v", i+1, out)
		}
	}
	if out := b.Send(notifytest.Within(t, 200*time.Millisecond), verdict(t, b)); !notifytest.Paced(out) {
		t.Fatalf("sixth: %+v", out)
	}
	if n := emu.Requests(); n != 5 {
		t.Fatalf("%d requests reached Feishu, want 5", n)
	}
}

func TestReadsUnexpectedAnswers(t *testing.T) {
	notifytest.ReadsAnswers(t, []notifytest.Answer{
		{Name: "legacy success", Status: 200, Body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`},
		{Name: "behind a failing gateway", Status: 502, Body: "<html>bad gateway</html>", Class: failure.Transient, HTTPStatus: 502},
		{Name: "answer not json", Status: 200, Body: "<html>ok</html>", Class: failure.Transient, HTTPStatus: 200, Ambiguous: true},
		{Name: "json without a code", Status: 200, Body: `{"msg":"success"}`, Class: failure.Transient, HTTPStatus: 200, Ambiguous: true},
		{Name: "bad request", Status: 200, Body: `{"code":9499,"msg":"Bad Request","data":{}}`, Class: failure.Permanent, Code: "9499", HTTPStatus: 200, Unposted: true},
		{Name: "too many requests", Status: 200, Body: `{"code":9499,"msg":"too many request","data":{}}`, Class: failure.Throttled, Code: "9499", HTTPStatus: 200, Unposted: true},
		{Name: "IP not allowed", Status: 200, Body: `{"code":19022,"msg":"Ip Not Allowed","data":{}}`, Class: failure.Auth, Code: "19022", HTTPStatus: 200, Unposted: true},
	}, func(u string) (notify.Sink, error) {
		return feishu.New(feishu.Config{WebhookURL: secret.Value(u + "/open-apis/bot/v2/hook/t0ken"), Pacer: notifytest.Unpaced(t)})
	}, notify.Message{Key: "k", Content: feishu.Content{Title: "precheck", Body: "b"}}, "t0ken")
}

func TestConfigErrorsHideSecrets(t *testing.T) {
	for _, u := range []string{"", "ftp://open.feishu.cn/open-apis/bot/v2/hook/s3cret", "https://open.feishu.cn/other/s3cret", "https://open.feishu.cn/open-apis/bot/v2/hook/"} {
		_, err := feishu.New(feishu.Config{WebhookURL: secret.Value(u)})
		if err == nil {
			t.Errorf("webhook %q accepted", u)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows the webhook", err)
		}
	}
}
