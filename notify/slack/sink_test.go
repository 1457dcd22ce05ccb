package slack_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	slackemu "precheckwatch/localcloud/slack"

	"precheckwatch/failure"
	"precheckwatch/localcloud/fault"
	"precheckwatch/notify"
	"precheckwatch/notify/notifytest"
	"precheckwatch/notify/slack"
	"precheckwatch/secret"
)

const (
	slackToken  = "xoxb-1111-2222-sinktesttoken"
	slackHook   = "/services/T0001/B0001/hooksecretpart"
	slackHookID = "hooksecretpart"
)

// slackWorkspace starts a Slack emulator with one channel, one webhook and
// the given faults.
func slackWorkspace(t *testing.T, mutate func(*slackemu.Config)) (*slackemu.Server, *httptest.Server) {
	t.Helper()
	cfg := slackemu.Config{
		Tokens:   []string{slackToken},
		Channels: []slackemu.Channel{{ID: "C0ALERTS", Name: "alerts"}, {ID: "C0PRIV", Name: "private", BotAbsent: true}},
		Webhooks: []slackemu.Webhook{{Path: slackHook, Channel: "C0ALERTS"}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	emu := slackemu.New(cfg)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// posted counts the messages Slack accepted.
func posted(emu *slackemu.Server) int { return len(emu.Messages()) }

func withFault(kind fault.Kind) func(*slackemu.Config) {
	return func(c *slackemu.Config) {
		c.Faults = fault.New(1)
		c.Faults.Set(kind, 1)
	}
}

func newBot(t *testing.T, srv *httptest.Server, token, channel string) *slack.Bot {
	t.Helper()
	bot, err := slack.NewBot(slack.BotConfig{
		Token: secret.Value(token), Channel: channel, APIURL: srv.URL + "/api/",
		HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

func verdictContent() slack.Content {
	return slack.Content{
		Text: "Precheck task-1: FAILED",
		Blocks: []slackgo.Block{
			slackgo.NewHeaderBlock(slackgo.NewTextBlockObject("plain_text", "Precheck task-1: FAILED", false, false)),
			slackgo.NewSectionBlock(slackgo.NewTextBlockObject("mrkdwn", "*rm-abc* MYSQL_BINLOG: FAILED", false, false), nil, nil),
		},
		Color:  "danger",
		Detail: []slackgo.Block{slackgo.NewContextBlock("", slackgo.NewTextBlockObject("mrkdwn", "fix: enable binlog", false, false))},
	}
}

func verdictMessage() notify.Message { return withContent(verdictContent()) }

func withContent(c slack.Content) notify.Message {
	return notify.Message{Key: "task-1/slack/FAILED", Content: c}
}

func TestSlackBotSend(t *testing.T) {
	long := strings.Repeat("x", 3001)
	cases := []struct {
		name    string
		mutate  func(*slackemu.Config)
		token   string
		channel string
		message func() notify.Message
		// giveUpWhen, when set, is a count Slack raises once it holds the
		// hung request: the send gives up then.
		giveUpWhen func(*slackemu.Server) int
		class      failure.Class
		code       string
		httpStatus int
		retryAfter time.Duration
		ambiguous  bool
		unposted   bool // the sink is sure nothing was posted
		recorded   int
	}{
		{name: "sent", recorded: 1},
		{name: "sent by channel name", channel: "#alerts", recorded: 1},
		{name: "wrong token", token: "xoxb-wrong", class: failure.Auth, code: "invalid_auth", httpStatus: 200, unposted: true},
		{name: "unknown channel", channel: "C0NOPE", class: failure.Permanent, code: "channel_not_found", httpStatus: 200, unposted: true},
		{name: "bot not in channel", channel: "C0PRIV", class: failure.Permanent, code: "not_in_channel", httpStatus: 200, unposted: true},
		{name: "blocks over the limit", message: func() notify.Message {
			c := verdictContent()
			c.Blocks = append(c.Blocks, slackgo.NewSectionBlock(slackgo.NewTextBlockObject("mrkdwn", long, false, false), nil, nil))
			return withContent(c)
		}, class: failure.Permanent, code: "invalid_blocks", httpStatus: 200, unposted: true},
		{name: "throttled with Retry-After", mutate: func(c *slackemu.Config) {
			withFault(fault.Throttle)(c)
			c.RetryAfter = 7 * time.Second
		}, class: failure.Throttled, code: "ratelimited", httpStatus: 429, unposted: true, retryAfter: 7 * time.Second},
		{name: "throttled without Retry-After", mutate: func(c *slackemu.Config) {
			withFault(fault.Throttle)(c)
			c.OmitRetryAfter = true
		}, class: failure.Throttled, httpStatus: 429, unposted: true},
		{name: "server error", mutate: withFault(fault.Server), class: failure.Transient, httpStatus: 503},
		{name: "hang", mutate: withFault(fault.Hang), giveUpWhen: (*slackemu.Server).Requests, class: failure.Transient, ambiguous: true},
		{name: "answer lost after posting", mutate: func(c *slackemu.Config) {
			withFault(fault.Hang)(c)
			c.HangAfterPost = true
		}, giveUpWhen: posted, class: failure.Transient, ambiguous: true, recorded: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, srv := slackWorkspace(t, tc.mutate)
			token, channel, message := slackToken, "C0ALERTS", verdictMessage
			if tc.token != "" {
				token = tc.token
			}
			if tc.channel != "" {
				channel = tc.channel
			}
			if tc.message != nil {
				message = tc.message
			}
			ctx := notifytest.Within(t, 5*time.Second)
			if tc.giveUpWhen != nil {
				ctx = notifytest.GiveUpWhenRises(t, func() int { return tc.giveUpWhen(emu) })
			}
			bot := newBot(t, srv, token, channel)
			out := bot.Send(ctx, message())
			if f := notifytest.Failure(out); f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.httpStatus || f.RetryAfter != tc.retryAfter || out.Ambiguous != tc.ambiguous || out.Unposted != tc.unposted || (tc.class != 0 && f.Service != slack.Name) {
				t.Fatalf("outcome %+v, failure %+v", out, f)
			}
			if (out.Err == nil) != (tc.class == 0) {
				t.Fatalf("error %v with class %v", out.Err, tc.class)
			}
			if tc.giveUpWhen != nil && !errors.Is(out.Err, context.Canceled) {
				t.Fatalf("error %v of a send given up is not the context's", out.Err)
			}
			if n := len(emu.Messages()); n != tc.recorded {
				t.Fatalf("%d messages recorded, want %d", n, tc.recorded)
			}
			notifytest.NoSecrets(t, out, fmt.Sprint(bot), slackToken, token)
			if tc.class != 0 {
				return
			}
			m, ok := emu.Message(out.Channel, out.Ref)
			if !ok || out.Channel != "C0ALERTS" {
				t.Fatalf("outcome %+v not recorded", out)
			}
			if m.Text != "Precheck task-1: FAILED" || len(m.Blocks) != 2 || len(m.Attachments) != 1 ||
				m.Attachments[0].Color != "danger" || len(m.Attachments[0].Blocks) != 1 {
				t.Fatalf("recorded %+v", m)
			}
		})
	}
}

func TestSlackBotThreadAndUpdate(t *testing.T) {
	emu, srv := slackWorkspace(t, nil)
	bot := newBot(t, srv, slackToken, "#alerts")
	ctx := notifytest.Within(t, 5*time.Second)

	notice := notify.Message{Content: slack.Content{Text: "precheck task-1 running", Color: "#439FE0",
		Detail: []slackgo.Block{slackgo.NewContextBlock("", slackgo.NewTextBlockObject("mrkdwn", "started", false, false))}}}
	parent := bot.Send(ctx, notice)
	if !parent.Sent() {
		t.Fatalf("notice: %+v", parent)
	}
	broadcast := verdictContent()
	broadcast.Broadcast = true
	reply := withContent(broadcast)
	reply.ThreadOf = parent.Ref
	if out := bot.Send(ctx, reply); !out.Sent() {
		t.Fatalf("reply: %+v", out)
	} else if m, _ := emu.Message(out.Channel, out.Ref); m.ThreadTS != parent.Ref || !m.ReplyBroadcast {
		t.Fatalf("reply recorded as %+v", m)
	}

	plain := verdictContent()
	plain.Color, plain.Detail = "", nil
	final := withContent(plain)
	out := bot.Update(ctx, parent.Channel, parent.Ref, final)
	if !out.Sent() || out.Ref != parent.Ref {
		t.Fatalf("update: %+v", out)
	}
	m, _ := emu.Message(parent.Channel, parent.Ref)
	if m.Text != "Precheck task-1: FAILED" || len(m.Blocks) != 2 || len(m.Attachments) != 0 ||
		len(m.History) != 1 || m.History[0].Text != "precheck task-1 running" {
		t.Fatalf("updated message %+v", m)
	}
	if f := notifytest.Failure(bot.Update(ctx, parent.Channel, "1500000000.000001", final)); f.Class != failure.Permanent || f.Code != "message_not_found" {
		t.Fatalf("update of a missing message: %+v", f)
	}
}

// Slack's pace is one post a second per channel: a second post within the
// second waits, and one whose deadline comes first is refused at once,
// without a request.
func TestSlackPacesPosts(t *testing.T) {
	emu, srv := slackWorkspace(t, nil)
	bot, err := slack.NewBot(slack.BotConfig{Token: slackToken, Channel: "C0ALERTS",
		APIURL: srv.URL + "/api/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if out := bot.Send(notifytest.Within(t, 5*time.Second), verdictMessage()); !out.Sent() {
		t.Fatalf("first: %+v", out)
	}
	out := bot.Send(notifytest.Within(t, 100*time.Millisecond), verdictMessage())
	if !notifytest.Paced(out) {
		t.Fatalf("second: %+v", out)
	}
	if n := emu.Requests(); n != 1 {
		t.Fatalf("%d requests reached Slack, want 1", n)
	}
}

func TestSlackConnectionRefusedIsNotAmbiguous(t *testing.T) {
	_, srv := slackWorkspace(t, nil)
	bot := newBot(t, srv, slackToken, "C0ALERTS")
	hook, err := slack.NewWebhook(slack.WebhookConfig{URL: secret.Value(srv.URL + slackHook), HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, sink := range []notify.Sink{bot, hook} {
		out := sink.Send(notifytest.Within(t, 5*time.Second), verdictMessage())
		if notifytest.Failure(out).Class != failure.Transient || out.Ambiguous || !out.Unposted {
			t.Fatalf("%v: %+v", sink, out)
		}
		notifytest.NoSecrets(t, out, fmt.Sprint(sink), slackToken, slackHookID)
	}
}

func TestSlackWebhookSend(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*slackemu.Config)
		path   string
		// giveUpWhen, when set, is a count Slack raises once it holds the
		// hung request: the send gives up then.
		giveUpWhen func(*slackemu.Server) int
		class      failure.Class
		code       string
		httpStatus int
		retryAfter time.Duration
		ambiguous  bool
		unposted   bool // the sink is sure nothing was posted
	}{
		{name: "sent"},
		{name: "unknown webhook", path: "/services/T9/B9/nothere", class: failure.Permanent, httpStatus: 404, unposted: true},
		{name: "wrong secret part", path: "/services/T0001/B0001/guessed", class: failure.Permanent, httpStatus: 403, unposted: true},
		{name: "archived channel", mutate: func(c *slackemu.Config) { c.Channels[0].Archived = true }, class: failure.Permanent, httpStatus: 410, unposted: true},
		{name: "throttled", mutate: func(c *slackemu.Config) {
			withFault(fault.Throttle)(c)
			c.RetryAfter = 2 * time.Second
		}, class: failure.Throttled, code: "ratelimited", httpStatus: 429, unposted: true, retryAfter: 2 * time.Second},
		{name: "server error", mutate: withFault(fault.Server), class: failure.Transient, httpStatus: 503},
		{name: "hang", mutate: withFault(fault.Hang), giveUpWhen: (*slackemu.Server).Requests, class: failure.Transient, ambiguous: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, srv := slackWorkspace(t, tc.mutate)
			path := slackHook
			if tc.path != "" {
				path = tc.path
			}
			ctx := notifytest.Within(t, 5*time.Second)
			if tc.giveUpWhen != nil {
				ctx = notifytest.GiveUpWhenRises(t, func() int { return tc.giveUpWhen(emu) })
			}
			hook, err := slack.NewWebhook(slack.WebhookConfig{URL: secret.Value(srv.URL + path), HTTPClient: srv.Client(), Pacer: notifytest.Unpaced(t)})
			if err != nil {
				t.Fatal(err)
			}
			out := hook.Send(ctx, verdictMessage())
			if f := notifytest.Failure(out); f.Class != tc.class || f.Code != tc.code || f.HTTPStatus != tc.httpStatus || f.RetryAfter != tc.retryAfter || out.Ambiguous != tc.ambiguous || out.Unposted != tc.unposted || (tc.class != 0 && f.Service != slack.Name) {
				t.Fatalf("outcome %+v, failure %+v", out, f)
			}
			notifytest.NoSecrets(t, out, fmt.Sprint(hook), slackHookID, "guessed", "nothere", srv.URL+path)
			want := map[bool]int{true: 1, false: 0}[tc.class == 0]
			got := emu.Messages()
			if len(got) != want {
				t.Fatalf("%d messages recorded, want %d", len(got), want)
			}
			if want == 1 && (!got[0].Webhook || got[0].Attachments[0].Color != "danger" || len(got[0].Blocks) != 2) {
				t.Fatalf("recorded %+v", got[0])
			}
		})
	}
}

func TestSlackConfigErrorsHideSecrets(t *testing.T) {
	_, err := slack.NewWebhook(slack.WebhookConfig{URL: "hooks.slack.com/services/T1/B1/topsecret"})
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("got %v", err)
	}
	if _, err := slack.NewBot(slack.BotConfig{Token: slackToken, Channel: "C1", APIURL: "http://127.0.0.1/api"}); err == nil {
		t.Fatal("API URL without a trailing slash accepted")
	}
	if _, err := slack.NewBot(slack.BotConfig{Channel: "C1"}); err == nil {
		t.Fatal("bot without a token accepted")
	}
}

func TestReadsUnexpectedAnswers(t *testing.T) {
	notifytest.ReadsAnswers(t, []notifytest.Answer{
		{Name: "behind a proxy page", Status: 200, Body: "<html>sorry</html>", Class: failure.Transient, Ambiguous: true},
		{Name: "empty answer", Status: 200, Body: "", Class: failure.Transient, Ambiguous: true},
		{Name: "API URL wrong", Status: 404, Body: "not found", Class: failure.Permanent, HTTPStatus: 404, Unposted: true},
	}, func(u string) (notify.Sink, error) {
		return slack.NewBot(slack.BotConfig{Token: slackToken, Channel: "C1", APIURL: u + "/api/", Pacer: notifytest.Unpaced(t)})
	}, verdictMessage(), slackToken)
}

// A post whose answer is lost is found again in the channel's history by
// any key it carries, and only since the time asked; a key never posted is
// reported absent, not guessed.
func TestSlackBotFindSettlesLostPosts(t *testing.T) {
	faults := fault.New(1)
	emu, srv := slackWorkspace(t, func(c *slackemu.Config) { c.Faults = faults; c.HangAfterPost = true })
	bot := newBot(t, srv, slackToken, "#alerts")
	start := time.Now()

	// One post that answers, so the sink learns the channel's ID.
	m := verdictMessage()
	m.Key = "t-1:slack:PASSED"
	if out := bot.Send(notifytest.Within(t, 5*time.Second), m); !out.Sent() {
		t.Fatalf("first post: %+v", out)
	}
	// A digest whose answer is lost: ambiguous, yet posted.
	faults.Set(fault.Hang, 1)
	d := verdictMessage()
	d.Key = "sha256-digest"
	out := bot.SendCarrying(notifytest.GiveUpWhenRises(t, func() int { return posted(emu) }), d, []string{"t-2:slack:FAILED", "t-3:slack:WARNING"})
	faults.Set(fault.Hang, 0)
	if !notifytest.Failure(out).Class.Retryable() || !out.Ambiguous {
		t.Fatalf("lost answer classified %+v, want an ambiguous retry", out)
	}
	if n := len(emu.Messages()); n != 2 {
		t.Fatalf("%d messages posted, want 2", n)
	}
	digestTS := emu.Messages()[1].TS

	early := start.Add(-time.Minute)
	cases := []struct {
		keys  []string
		since time.Time
		want  map[string]string // key → ts
	}{
		{[]string{"t-1:slack:PASSED", "sha256-digest", "t-3:slack:WARNING", "t-4:slack:PASSED", "t-3:slack"}, early,
			map[string]string{"t-1:slack:PASSED": emu.Messages()[0].TS, "sha256-digest": digestTS, "t-3:slack:WARNING": digestTS}},
		{[]string{"t-2:slack:FAILED"}, early, map[string]string{"t-2:slack:FAILED": digestTS}},
		{[]string{"t-4:slack:PASSED"}, early, map[string]string{}},
		{[]string{"t-3:slack:WARNING"}, time.Now().Add(time.Minute), map[string]string{}},
	}
	for _, c := range cases {
		got, err := bot.Find(notifytest.Within(t, 5*time.Second), c.keys, c.since)
		if err != nil {
			t.Fatalf("find %v: %v", c.keys, err)
		}
		if len(got) != len(c.want) {
			t.Errorf("find %v since %s = %+v, want %v", c.keys, c.since.Format(time.TimeOnly), got, c.want)
		}
		for k, ts := range c.want {
			if out := got[k]; !out.Sent() || out.Ref != ts || out.Channel != "C0ALERTS" {
				t.Errorf("find %s = %+v, want ts %s in C0ALERTS", k, out, ts)
			}
		}
	}

	// When the history cannot be read, Find says so rather than "absent".
	faults.Set(fault.Server, 1)
	if got, err := bot.Find(notifytest.Within(t, 5*time.Second), []string{"t-4:slack:PASSED"}, start); err == nil {
		t.Fatalf("find during an outage = %+v, want an error", got)
	} else if strings.Contains(err.Error(), slackToken) {
		t.Fatalf("error reveals the token: %v", err)
	}
}

// Find pages through the history; with more than it may read it reports
// that it cannot tell.
func TestSlackBotFindPagesAndGivesUp(t *testing.T) {
	emu, srv := slackWorkspace(t, nil)
	bot := newBot(t, srv, slackToken, "C0ALERTS")
	start := time.Now()
	early := verdictMessage()
	early.Key = "t-early:slack:PASSED"
	if out := bot.Send(notifytest.Within(t, 5*time.Second), early); !out.Sent() {
		t.Fatal(out)
	}
	filler := verdictMessage()
	for i := range 250 {
		filler.Key = fmt.Sprintf("t-%03d:slack:PASSED", i)
		if out := bot.Send(notifytest.Within(t, 5*time.Second), filler); !out.Sent() {
			t.Fatal(out)
		}
	}
	got, err := bot.Find(notifytest.Within(t, 5*time.Second), []string{early.Key}, start.Add(-time.Minute))
	if err != nil || got[early.Key].Ref != emu.Messages()[0].TS {
		t.Fatalf("find across pages = %+v, %v", got, err)
	}
	for i := range 2000 {
		filler.Key = fmt.Sprintf("t-more-%04d:slack:PASSED", i)
		if out := bot.Send(notifytest.Within(t, 5*time.Second), filler); !out.Sent() {
			t.Fatal(out)
		}
	}
	if got, err := bot.Find(notifytest.Within(t, 5*time.Second), []string{"t-never:slack:PASSED"}, start.Add(-time.Minute)); !errors.Is(err, slack.ErrHistoryTooLong) {
		t.Fatalf("find past the page limit = %+v, %v; want ErrHistoryTooLong", got, err)
	}
}

// A 429 holds the channel's pace for its Retry-After: the next post waits
// for it rather than asking Slack again at once.
func TestSlackRetryAfterHoldsThePace(t *testing.T) {
	faults := fault.New(1)
	emu, srv := slackWorkspace(t, func(c *slackemu.Config) { c.Faults = faults; c.RetryAfter = 30 * time.Second })
	bot := newBot(t, srv, slackToken, "C0ALERTS")
	faults.Set(fault.Throttle, 1)
	if f := notifytest.Failure(bot.Send(notifytest.Within(t, 5*time.Second), verdictMessage())); f.Class != failure.Throttled || f.RetryAfter != 30*time.Second {
		t.Fatalf("throttled post: %+v", f)
	}
	faults.Set(fault.Throttle, 0)
	requests := emu.Requests()
	if out := bot.Send(notifytest.Within(t, 5*time.Second), verdictMessage()); !notifytest.Paced(out) {
		t.Fatalf("post within the Retry-After: %+v", out)
	}
	if n := emu.Requests(); n != requests {
		t.Fatalf("%d requests reached Slack within its Retry-After", n-requests)
	}
}
