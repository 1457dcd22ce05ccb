package slack_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/slack"
)

const token = "xoxb-emulated-token"

func newServer(t *testing.T, mutate func(*slack.Config)) (*slack.Server, *httptest.Server) {
	t.Helper()
	cfg := slack.Config{
		Tokens: []string{token},
		Channels: []slack.Channel{
			{ID: "C0ALERTS", Name: "alerts"},
			{ID: "C0OLD", Name: "old", Archived: true},
			{ID: "C0PRIVATE", Name: "private", BotAbsent: true},
		},
		Webhooks: []slack.Webhook{{Path: "/services/T0001/B0001/secretpart", Channel: "C0ALERTS"}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	emu := slack.New(cfg)
	ts := httptest.NewServer(emu)
	t.Cleanup(ts.Close)
	return emu, ts
}

func client(ts *httptest.Server, tok string) *slackgo.Client {
	return slackgo.New(tok, slackgo.OptionAPIURL(ts.URL+"/api/"), slackgo.OptionHTTPClient(ts.Client()))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func section(text string) slackgo.Block {
	return slackgo.NewSectionBlock(slackgo.NewTextBlockObject("mrkdwn", text, false, false), nil, nil)
}

func slackErr(err error) string {
	var se slackgo.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	if err == nil {
		return ""
	}
	return "other: " + err.Error()
}

var tsPattern = regexp.MustCompile(`^\d{10}\.\d{6}$`)

func TestPostMessageRecordsBlocksAndAttachment(t *testing.T) {
	emu, ts := newServer(t, nil)
	api := client(ts, token)
	ch, msgTS, err := api.PostMessageContext(ctx(t), "#alerts",
		slackgo.MsgOptionText("precheck task-1 FAILED", false),
		slackgo.MsgOptionBlocks(
			slackgo.NewHeaderBlock(slackgo.NewTextBlockObject("plain_text", "Precheck task-1", false, false)),
			section("*rm-abc* MYSQL_BINLOG: FAILED"),
		),
		slackgo.MsgOptionAttachments(slackgo.Attachment{Color: "danger", Blocks: slackgo.Blocks{BlockSet: []slackgo.Block{
			slackgo.NewContextBlock("", slackgo.NewTextBlockObject("mrkdwn", "fix: enable binlog", false, false)),
		}}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if ch != "C0ALERTS" || !tsPattern.MatchString(msgTS) {
		t.Fatalf("channel %q ts %q", ch, msgTS)
	}
	m, ok := emu.Message("C0ALERTS", msgTS)
	if !ok {
		t.Fatal("message not recorded")
	}
	if m.Text != "precheck task-1 FAILED" || len(m.Blocks) != 2 || m.Blocks[0].Type != "header" ||
		m.Blocks[1].Text != "*rm-abc* MYSQL_BINLOG: FAILED" || len(m.Attachments) != 1 || m.Attachments[0].Color != "danger" {
		t.Fatalf("recorded %+v", m)
	}
	want := "Precheck task-1\n*rm-abc* MYSQL_BINLOG: FAILED\n▌ fix: enable binlog"
	if got := m.PlainText(); got != want {
		t.Fatalf("plain text\n%s\nwant\n%s", got, want)
	}
}

func TestTimestampsAreUniqueAndIncreasing(t *testing.T) {
	frozen := time.Unix(1700000000, 0)
	emu, ts := newServer(t, func(c *slack.Config) { c.Now = func() time.Time { return frozen } })
	api := client(ts, token)
	prev := ""
	for i := 0; i < 20; i++ {
		_, msgTS, err := api.PostMessageContext(ctx(t), "C0ALERTS", slackgo.MsgOptionText("x", false))
		if err != nil {
			t.Fatal(err)
		}
		if !tsPattern.MatchString(msgTS) || msgTS <= prev {
			t.Fatalf("ts %q after %q", msgTS, prev)
		}
		prev = msgTS
	}
	if n := len(emu.ChannelMessages("#alerts")); n != 20 {
		t.Fatalf("%d messages recorded", n)
	}
}

func TestPostMessageRefusals(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	many := func(n int) []slackgo.Block {
		var b []slackgo.Block
		for i := 0; i < n; i++ {
			b = append(b, slackgo.NewDividerBlock())
		}
		return b
	}
	var fields []*slackgo.TextBlockObject
	for i := 0; i < 11; i++ {
		fields = append(fields, slackgo.NewTextBlockObject("mrkdwn", "f", false, false))
	}
	cases := []struct {
		name    string
		token   string
		channel string
		opts    []slackgo.MsgOption
		want    string
		problem string
	}{
		{"no token", "", "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionText("x", false)}, "not_authed", ""},
		{"wrong token", "xoxb-wrong", "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionText("x", false)}, "invalid_auth", ""},
		{"unknown channel", token, "C0NOPE", []slackgo.MsgOption{slackgo.MsgOptionText("x", false)}, "channel_not_found", ""},
		{"archived", token, "#old", []slackgo.MsgOption{slackgo.MsgOptionText("x", false)}, "is_archived", ""},
		{"bot absent", token, "private", []slackgo.MsgOption{slackgo.MsgOptionText("x", false)}, "not_in_channel", ""},
		{"nothing", token, "C0ALERTS", nil, "no_text", ""},
		{"51 blocks", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionBlocks(many(51)...)}, "invalid_blocks",
			"must be no more than 50 items [json-pointer:/blocks]"},
		{"section 3001", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionBlocks(section(long(3001)))}, "invalid_blocks",
			"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"},
		{"header 151", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionBlocks(slackgo.NewDividerBlock(),
			slackgo.NewHeaderBlock(slackgo.NewTextBlockObject("plain_text", long(151), false, false)))}, "invalid_blocks",
			"must be less than 151 characters [json-pointer:/blocks/1/text/text]"},
		{"11 fields", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionBlocks(slackgo.NewSectionBlock(nil, fields, nil))}, "invalid_blocks",
			"must be no more than 10 items [json-pointer:/blocks/0/fields]"},
		{"field 2001", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionBlocks(slackgo.NewSectionBlock(nil,
			[]*slackgo.TextBlockObject{slackgo.NewTextBlockObject("mrkdwn", long(2001), false, false)}, nil))}, "invalid_blocks",
			"must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]"},
		{"attachment section 3001", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionText("x", false),
			slackgo.MsgOptionAttachments(slackgo.Attachment{Color: "good", Blocks: slackgo.Blocks{BlockSet: []slackgo.Block{section(long(3001))}}})},
			"invalid_blocks", "must be less than 3001 characters [json-pointer:/attachments/0/blocks/0/text/text]"},
		{"13k across blocks", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionBlocks(
			section(long(2900)), section(long(2900)), section(long(2900)), section(long(2900)), section(long(2900)))}, "msg_blocks_too_long", ""},
		{"thread parent unknown", token, "C0ALERTS", []slackgo.MsgOption{slackgo.MsgOptionText("x", false), slackgo.MsgOptionTS("1700000000.000001")},
			"invalid_thread_ts", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, ts := newServer(t, nil)
			_, _, err := client(ts, tc.token).PostMessageContext(ctx(t), tc.channel, tc.opts...)
			if got := slackErr(err); got != tc.want {
				t.Fatalf("error %q, want %q", got, tc.want)
			}
			if tc.problem != "" {
				var se slackgo.SlackErrorResponse
				errors.As(err, &se)
				found := false
				for _, e := range se.Errors {
					found = found || (e.Message != nil && *e.Message == tc.problem)
				}
				if !found {
					t.Fatalf("errors %+v lack %q", se, tc.problem)
				}
			}
			if n := len(emu.Messages()); n != 0 {
				t.Fatalf("%d messages recorded after a refusal", n)
			}
		})
	}
}

func TestBearerTokenAndRawErrors(t *testing.T) {
	_, ts := newServer(t, nil)
	cases := []struct {
		name, auth, body, want string
	}{
		{"bearer", "Bearer " + token, "channel=C0ALERTS&text=hi", `"ok":true`},
		{"bad blocks json", "Bearer " + token, "channel=C0ALERTS&blocks=" + url.QueryEscape("[{"), `"error":"invalid_blocks_format"`},
		{"unknown block type", "Bearer " + token, "channel=C0ALERTS&blocks=" + url.QueryEscape(`[{"type":"banner"}]`), `"error":"invalid_blocks"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, ts.URL+"/api/chat.postMessage", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", tc.auth)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s, want %s", resp.StatusCode, b, tc.want)
			}
		})
	}
}

func TestThreadsAndUpdates(t *testing.T) {
	emu, ts := newServer(t, nil)
	api := client(ts, token)
	c := ctx(t)
	ch, parent, err := api.PostMessageContext(c, "#alerts", slackgo.MsgOptionText("precheck running", false))
	if err != nil {
		t.Fatal(err)
	}
	_, reply, err := api.PostMessageContext(c, ch, slackgo.MsgOptionText("detail", false), slackgo.MsgOptionTS(parent), slackgo.MsgOptionBroadcast())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(c, ch, slackgo.MsgOptionText("x", false), slackgo.MsgOptionTS(reply)); slackErr(err) != "invalid_thread_ts" {
		t.Fatalf("reply to a reply: %v", err)
	}
	_, _, text, err := api.UpdateMessageContext(c, ch, parent, slackgo.MsgOptionText("verdict FAILED", false), slackgo.MsgOptionBlocks(section("FAILED")))
	if err != nil || text != "verdict FAILED" {
		t.Fatalf("update: %q %v", text, err)
	}
	m, _ := emu.Message(ch, parent)
	if m.Text != "verdict FAILED" || len(m.Blocks) != 1 || len(m.History) != 1 || m.History[0].Text != "precheck running" {
		t.Fatalf("updated message %+v", m)
	}
	r, _ := emu.Message(ch, reply)
	if r.ThreadTS != parent || !r.ReplyBroadcast {
		t.Fatalf("reply %+v", r)
	}
	if _, _, _, err := api.UpdateMessageContext(c, ch, "1600000000.000001", slackgo.MsgOptionText("x", false)); slackErr(err) != "message_not_found" {
		t.Fatalf("update of unknown ts: %v", err)
	}
	if err := slackgo.PostWebhookCustomHTTPContext(c, ts.URL+"/services/T0001/B0001/secretpart", ts.Client(), &slackgo.WebhookMessage{Text: "via hook"}); err != nil {
		t.Fatal(err)
	}
	all := emu.Messages()
	hook := all[len(all)-1]
	if !hook.Webhook {
		t.Fatalf("last message %+v", hook)
	}
	if _, _, _, err := api.UpdateMessageContext(c, ch, hook.TS, slackgo.MsgOptionText("x", false)); slackErr(err) != "cant_update_message" {
		t.Fatalf("update of a webhook post: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	cases := []struct {
		name, path, ctype, body string
		status                  int
		answer                  string
	}{
		{"ok", "/services/T0001/B0001/secretpart", "application/json", `{"text":"hi"}`, 200, "ok"},
		{"legacy form payload", "/services/T0001/B0001/secretpart", "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"text":"hi"}`), 200, "ok"},
		{"unknown", "/services/T9/B9/X9", "application/json", `{"text":"hi"}`, 404, "no_service"},
		{"wrong secret", "/services/T0001/B0001/guess", "application/json", `{"text":"hi"}`, 403, "invalid_token"},
		{"not json", "/services/T0001/B0001/secretpart", "application/json", `text=hi`, 400, "invalid_payload"},
		{"empty", "/services/T0001/B0001/secretpart", "application/json", `{}`, 400, "no_text"},
		{"bad blocks", "/services/T0001/B0001/secretpart", "application/json", `{"blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`, 400, "invalid_blocks"},
		{"archived", "/services/T0002/B0002/other", "application/json", `{"text":"hi"}`, 410, "channel_is_archived"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, ts := newServer(t, func(c *slack.Config) {
				c.Webhooks = append(c.Webhooks, slack.Webhook{Path: "/services/T0002/B0002/other", Channel: "C0OLD"})
			})
			req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, ts.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(b) != tc.answer {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, b, tc.status, tc.answer)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.status == 200]; len(emu.Messages()) != want {
				t.Fatalf("%d messages recorded", len(emu.Messages()))
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Run("throttle with Retry-After", func(t *testing.T) {
		faults := fault.New(1)
		faults.Set(fault.Throttle, 1)
		_, ts := newServer(t, func(c *slack.Config) { c.Faults = faults; c.RetryAfter = 2500 * time.Millisecond })
		_, _, err := client(ts, token).PostMessageContext(ctx(t), "C0ALERTS", slackgo.MsgOptionText("x", false))
		var rl *slackgo.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
			t.Fatalf("got %v", err)
		}
		err = slackgo.PostWebhookCustomHTTPContext(ctx(t), ts.URL+"/services/T0001/B0001/secretpart", ts.Client(), &slackgo.WebhookMessage{Text: "x"})
		if !errors.As(err, &rl) {
			t.Fatalf("webhook got %v", err)
		}
	})
	t.Run("throttle without Retry-After", func(t *testing.T) {
		faults := fault.New(1)
		faults.Set(fault.Throttle, 1)
		_, ts := newServer(t, func(c *slack.Config) { c.Faults = faults; c.OmitRetryAfter = true })
		_, _, err := client(ts, token).PostMessageContext(ctx(t), "C0ALERTS", slackgo.MsgOptionText("x", false))
		var sc slackgo.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != 429 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		faults := fault.New(1)
		faults.Set(fault.Server, 1)
		emu, ts := newServer(t, func(c *slack.Config) { c.Faults = faults; c.ServerErrorStatus = 500 })
		_, _, err := client(ts, token).PostMessageContext(ctx(t), "C0ALERTS", slackgo.MsgOptionText("x", false))
		var sc slackgo.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != 500 || len(emu.Messages()) != 0 {
			t.Fatalf("got %v", err)
		}
	})
	for _, after := range []bool{false, true} {
		t.Run("hang after post "+map[bool]string{false: "no", true: "yes"}[after], func(t *testing.T) {
			faults := fault.New(1)
			faults.Set(fault.Hang, 1)
			emu, ts := newServer(t, func(c *slack.Config) { c.Faults = faults; c.HangAfterPost = after })
			// The client gives up once Slack holds the request: before the
			// post, once it arrived; after, once it was posted.
			c, cancel := waitfor.GiveUpWhen(10*time.Second, func() bool {
				return emu.Requests() > 0 && (!after || len(emu.Messages()) > 0)
			})
			defer cancel()
			_, _, err := client(ts, token).PostMessageContext(c, "C0ALERTS", slackgo.MsgOptionText("x", false))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v", err)
			}
			want := map[bool]int{false: 0, true: 1}[after]
			if n := len(emu.Messages()); n != want {
				t.Fatalf("%d messages recorded, want %d", n, want)
			}
		})
	}
	t.Run("per-channel rate", func(t *testing.T) {
		frozen := time.Unix(1700000000, 0)
		_, ts := newServer(t, func(c *slack.Config) {
			c.ChannelRate, c.ChannelBurst = 1, 2
			c.Now = func() time.Time { return frozen }
		})
		api := client(ts, token)
		var errs []error
		for i := 0; i < 3; i++ {
			_, _, err := api.PostMessageContext(ctx(t), "C0ALERTS", slackgo.MsgOptionText("x", false))
			errs = append(errs, err)
		}
		var rl *slackgo.RateLimitedError
		if errs[0] != nil || errs[1] != nil || !errors.As(errs[2], &rl) {
			t.Fatalf("got %v", errs)
		}
	})
}

func TestPlainText(t *testing.T) {
	m := slack.Message{
		Text: "fallback",
		Blocks: []slack.Block{
			{Type: "header", Text: "Title"},
			{Type: "section", Text: "body", Fields: []string{"a", "b"}},
			{Type: "divider"},
			{Type: "context", Elements: []string{"x", "y"}},
			{Type: "actions", Elements: []string{"Open"}},
			{Type: "table", Rows: [][]string{{"id", "level"}, {"rm-1", "PASSED"}}},
		},
		Attachments: []slack.Attachment{{Color: "good", Text: "all fine"}},
	}
	want := "Title\nbody\n  a\n  b\n────────\nx · y\n[Open]\nid | level\nrm-1 | PASSED\n▌ all fine"
	if got := m.PlainText(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := (slack.Message{Text: "only text"}).PlainText(); got != "only text" {
		t.Fatalf("got %q", got)
	}
}
