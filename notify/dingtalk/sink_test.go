package dingtalk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud/clock"
	dingemu "precheckwatch/localcloud/dingtalk"

	"precheckwatch/failure"
	"precheckwatch/localcloud/fault"
	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/notifytest"
	"precheckwatch/notify/pace"
	"precheckwatch/secret"
)

const (
	dingToken  = "dingsinktesttoken0123"
	dingSecret = "SECdingsinktestsecret"
)

// dingTalkGroup starts a DingTalk emulator with a signed robot and a
// keyword robot on a settable clock.
func dingTalkGroup(t *testing.T, mutate func(*dingemu.Config)) (*dingemu.Server, *httptest.Server, *clock.Manual) {
	t.Helper()
	clock := clock.At(time.Unix(1800000000, 0))
	cfg := dingemu.Config{
		Robots: []dingemu.Robot{
			{Name: "oncall", Token: dingToken, Secret: dingSecret},
			{Name: "keyword", Token: "kwtoken", Keywords: []string{"precheck"}},
			{Name: "strict", Token: "stricttoken", Keywords: []string{"数据库"}},
		},
		Now: clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	emu := dingemu.New(cfg)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv, clock
}

func newDingTalk(t *testing.T, srv *httptest.Server, token, sec string, now func() time.Time) *dingtalk.Robot {
	t.Helper()
	d, err := dingtalk.New(dingtalk.Config{
		WebhookURL: secret.Value(srv.URL + "/robot/send?access_token=" + token),
		Secret:     secret.Value(sec), HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t), Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDingTalkSend(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*dingemu.Config)
		token   string
		secret  string
		skew    time.Duration
		message func() notify.Message
		// giveUpWhen, when set, is a count DingTalk raises once it holds
		// the hung request: the send gives up then.
		giveUpWhen func(*dingemu.Server) int
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
		{name: "keyword missing", token: "stricttoken", secret: "-", class: failure.Permanent, code: "310000", httpStatus: 200, unposted: true},
		{name: "wrong secret", secret: "SECwrongsecret", class: failure.Auth, code: "310000", httpStatus: 200, unposted: true},
		{name: "stale timestamp", skew: -2 * time.Hour, class: failure.Transient, code: "310000", httpStatus: 200, unposted: true},
		{name: "unsigned for a signing robot", secret: "-", class: failure.Transient, code: "310000", httpStatus: 200, unposted: true},
		{name: "unknown token", token: "nosuchtoken", class: failure.Auth, code: "300005", httpStatus: 200, unposted: true},
		{name: "missing title", message: func() notify.Message {
			c := verdictContent()
			c.Title = ""
			return withContent(c)
		}, class: failure.Permanent, code: "40035", httpStatus: 200, unposted: true},
		{name: "too long is not throttling", message: func() notify.Message {
			c := verdictContent()
			c.Text = strings.Repeat("x", 21000)
			return withContent(c)
		}, class: failure.Permanent, code: "460101", httpStatus: 200, unposted: true},
		{name: "throttled", mutate: dingFault(fault.Throttle, false), class: failure.Throttled, code: "130101", httpStatus: 200, unposted: true, retryAfter: 10 * time.Minute},
		{name: "busy", mutate: dingFault(fault.Server, false), class: failure.Transient, code: "-1", httpStatus: 200, unposted: true},
		{name: "hang", mutate: dingFault(fault.Hang, false), giveUpWhen: (*dingemu.Server).Requests, class: failure.Transient, ambiguous: true},
		{name: "answer lost after delivery", mutate: dingFault(fault.Hang, true), giveUpWhen: delivered,
			class: failure.Transient, ambiguous: true, recorded: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, srv, clock := dingTalkGroup(t, tc.mutate)
			token, sec, message := dingToken, dingSecret, verdictMessage
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
			if tc.message != nil {
				message = tc.message
			}
			ctx := notifytest.Within(t, 5*time.Second)
			if tc.giveUpWhen != nil {
				ctx = notifytest.GiveUpWhenRises(t, func() int { return tc.giveUpWhen(emu) })
			}
			d := newDingTalk(t, srv, token, sec, func() time.Time { return clock.Now().Add(tc.skew) })
			out := d.Send(ctx, message())
			if f := notifytest.Failure(out); f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.httpStatus || f.RetryAfter != tc.retryAfter || out.Ambiguous != tc.ambiguous || out.Unposted != tc.unposted || (tc.class != 0 && f.Service != dingtalk.Name) {
				t.Fatalf("outcome %+v, failure %+v", out, f)
			}
			if tc.giveUpWhen != nil && !errors.Is(out.Err, context.Canceled) {
				t.Fatalf("error %v of a send given up is not the context's", out.Err)
			}
			if n := len(emu.Messages()); n != tc.recorded {
				t.Fatalf("%d delivered, want %d", n, tc.recorded)
			}
			notifytest.NoSecrets(t, out, fmt.Sprint(d), dingToken, dingSecret, token, "sign=")
		})
	}
}

// delivered counts the messages DingTalk delivered.
func delivered(emu *dingemu.Server) int { return len(emu.Messages()) }

func dingFault(kind fault.Kind, afterDelivery bool) func(*dingemu.Config) {
	return func(c *dingemu.Config) {
		c.Faults = fault.New(1)
		c.Faults.Set(kind, 1)
		c.HangAfterDelivery = afterDelivery
	}
}

func TestDingTalkRecordsMarkdownWithMentions(t *testing.T) {
	emu, srv, clock := dingTalkGroup(t, nil)
	d := newDingTalk(t, srv, dingToken, dingSecret, clock.Now)
	c := verdictContent()
	c.AtMobiles, c.AtUserIds = []string{"13800000000"}, []string{"user123"}
	c.Text += "\n\n@13800000000 @user123"
	m := withContent(c)
	if out := d.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
		t.Fatalf("outcome %+v", out)
	}
	got := emu.RobotMessages("oncall")
	if len(got) != 1 {
		t.Fatalf("delivered %+v", got)
	}
	g := got[0]
	if g.MsgType != "markdown" || g.Title != c.Title || g.Text != c.Text || g.MsgUUID != m.Key ||
		strings.Join(g.AtMobiles, ",") != "13800000000" || strings.Join(g.AtUserIds, ",") != "user123" || g.IsAtAll {
		t.Fatalf("delivered %+v", g)
	}
}

func TestDingTalkRateLimitWindow(t *testing.T) {
	emu, srv, clock := dingTalkGroup(t, nil)
	d := newDingTalk(t, srv, dingToken, dingSecret, clock.Now)
	send := func(i int) notify.Outcome {
		m := verdictMessage()
		m.Key = "task-" + strconv.Itoa(i)
		return d.Send(notifytest.Within(t, 5*time.Second), m)
	}
	for i := 0; i < 20; i++ {
		clock.Advance(2 * time.Second)
		if out := send(i); !out.Sent() {
			t.Fatalf("message %d: %+v", i+1, out)
		}
	}
	if f := notifytest.Failure(send(20)); f.Class != failure.Throttled || f.RetryAfter != 10*time.Minute || f.Code != "130101" {
		t.Fatalf("21st: %+v", f)
	}
	clock.Advance(9 * time.Minute)
	if f := notifytest.Failure(send(21)); f.Class != failure.Throttled || f.Code != "130101" {
		t.Fatalf("9 minutes later: %+v", f)
	}
	clock.Advance(time.Minute)
	if out := send(22); !out.Sent() {
		t.Fatalf("10 minutes later: %+v", out)
	}
	if n := len(emu.Messages()); n != 21 {
		t.Fatalf("%d delivered, want 21", n)
	}
}

func TestDingTalkResendIsDeliveredOnce(t *testing.T) {
	faults := fault.New(1)
	faults.Set(fault.Hang, 1)
	emu, srv, clock := dingTalkGroup(t, func(c *dingemu.Config) { c.Faults, c.HangAfterDelivery = faults, true })
	d := newDingTalk(t, srv, dingToken, dingSecret, clock.Now)
	if out := d.Send(notifytest.GiveUpWhenRises(t, func() int { return delivered(emu) }), verdictMessage()); !notifytest.Failure(out).Class.Retryable() || !out.Ambiguous {
		t.Fatalf("attempt with the answer lost: %+v", out)
	}
	if n := len(emu.Messages()); n != 1 {
		t.Fatalf("%d delivered behind the lost answer, want 1", n)
	}
	faults.Reset()
	clock.Advance(time.Minute)
	if out := d.Send(notifytest.Within(t, 5*time.Second), verdictMessage()); !out.Sent() {
		t.Fatalf("resend: %+v", out)
	}
	if n := len(emu.Messages()); n != 1 {
		t.Fatalf("%d delivered, want 1", n)
	}
}

// The robot's own pace is a window of 18 a minute: a burst of 18 goes at
// once, and the 19th, whose deadline comes before the window has room, is
// refused at once without a request.
func TestDingTalkPacesByWindow(t *testing.T) {
	emu, srv, clock := dingTalkGroup(t, nil)
	d, err := dingtalk.New(dingtalk.Config{
		WebhookURL: secret.Value(srv.URL + "/robot/send?access_token=" + dingToken),
		Secret:     dingSecret, HTTPClient: srv.Client(), Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 18 {
		m := verdictMessage()
		m.Key = "burst-" + strconv.Itoa(i)
		if out := d.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
			t.Fatalf("message %d of the burst: %+v", i+1, out)
		}
	}
	m := verdictMessage()
	m.Key = "other"
	start := time.Now()
	out := d.Send(notifytest.Within(t, 5*time.Second), m)
	if !notifytest.Paced(out) {
		t.Fatalf("19th: %+v", out)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the 19th took %s to be refused", took)
	}
	if n := emu.Requests(); n != 18 {
		t.Fatalf("%d requests reached DingTalk, want 18", n)
	}
}

func TestDingTalkConnectionRefused(t *testing.T) {
	_, srv, clock := dingTalkGroup(t, nil)
	d := newDingTalk(t, srv, dingToken, dingSecret, clock.Now)
	srv.Close()
	out := d.Send(notifytest.Within(t, 5*time.Second), verdictMessage())
	if notifytest.Failure(out).Class != failure.Transient || out.Ambiguous || !out.Unposted {
		t.Fatalf("outcome %+v", out)
	}
	notifytest.NoSecrets(t, out, fmt.Sprint(d), dingToken, dingSecret, "sign=")
}

func TestDingTalkConfigErrorsHideSecrets(t *testing.T) {
	for _, raw := range []string{"oapi.dingtalk.com/robot/send?access_token=topsecret", "https://oapi.dingtalk.com/robot/send?token=topsecret", "::topsecret"} {
		_, err := dingtalk.New(dingtalk.Config{WebhookURL: secret.Value(raw)})
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Fatalf("%q: got %v", raw, err)
		}
	}
}

func verdictContent() dingtalk.Content {
	return dingtalk.Content{Title: "precheck task-1 FAILED", Text: "#### precheck task-1 FAILED\n- rm-abc MYSQL_BINLOG: FAILED"}
}

func verdictMessage() notify.Message { return withContent(verdictContent()) }

func withContent(c dingtalk.Content) notify.Message {
	return notify.Message{Key: "task-1/dingtalk/FAILED", Content: c}
}

func TestReadsUnexpectedAnswers(t *testing.T) {
	notifytest.ReadsAnswers(t, []notifytest.Answer{
		{Name: "behind a failing gateway", Status: 502, Body: "<html>bad gateway</html>", Class: failure.Transient, HTTPStatus: 502},
		{Name: "answer not json", Status: 200, Body: "<html>ok</html>", Class: failure.Transient, HTTPStatus: 200, Ambiguous: true},
		{Name: "IP not allowed", Status: 200, Body: `{"errcode":310000,"errmsg":"ip 203.0.113.9 not in whitelist"}`, Class: failure.Auth, Code: "310000", HTTPStatus: 200, Unposted: true},
		{Name: "unknown errcode", Status: 200, Body: `{"errcode":400013,"errmsg":"群已被解散"}`, Class: failure.Permanent, Code: "400013", HTTPStatus: 200, Unposted: true},
	}, func(u string) (notify.Sink, error) {
		return dingtalk.New(dingtalk.Config{WebhookURL: secret.Value(u + "/robot/send?access_token=t0ken"), Pacer: notifytest.Unpaced(t)})
	}, verdictMessage(), "t0ken")
}

// A send's own timeout starts when it leaves, not while it waits for the
// window: a send that waits longer than its timeout for room still has its
// whole timeout for the request. The window is twice the timeout, so the
// second send waits out a whole timeout and more, and the timeout is long
// enough for a request on a loaded machine.
func TestDingTalkTimeoutStartsWhenTheSendLeaves(t *testing.T) {
	emu, srv, clock := dingTalkGroup(t, nil)
	const timeout = 500 * time.Millisecond
	window, err := pace.NewLocal(pace.Limit{N: 1, Per: 2 * timeout})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dingtalk.New(dingtalk.Config{
		WebhookURL: secret.Value(srv.URL + "/robot/send?access_token=" + dingToken),
		Secret:     dingSecret, HTTPClient: srv.Client(), Now: clock.Now, Pacer: window, Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		m := verdictMessage()
		m.Key = "paced-" + strconv.Itoa(i)
		if out := d.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
			t.Fatalf("send %d: %+v", i+1, out)
		}
	}
	if n := len(emu.Messages()); n != 2 {
		t.Fatalf("%d delivered, want 2", n)
	}
}
