package slack_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"precheckwatch/localcloud/slack"
)

// Messages posted with metadata come back from conversations.history newest
// first, with their metadata only when include_all_metadata is set, and
// pages follow the cursor down to oldest.
func TestHistoryReturnsMessagesWithMetadata(t *testing.T) {
	clock := time.Unix(1700000000, 0)
	emu, ts := newServer(t, func(c *slack.Config) {
		c.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
	})
	api := client(ts, token)
	var stamps []string
	for i, key := range []string{"k0", "k1", "k2", "k3", "k4"} {
		opts := []slackgo.MsgOption{slackgo.MsgOptionText("verdict "+key, false)}
		if i != 2 {
			opts = append(opts, slackgo.MsgOptionMetadata(slackgo.SlackMetadata{EventType: "precheck_verdict", EventPayload: map[string]any{"key": key}}))
		}
		_, msgTS, err := api.PostMessageContext(ctx(t), "C0ALERTS", opts...)
		if err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, msgTS)
	}
	// A thread reply is not part of the channel's history.
	if _, _, err := api.PostMessageContext(ctx(t), "C0ALERTS", slackgo.MsgOptionText("reply", false), slackgo.MsgOptionTS(stamps[0])); err != nil {
		t.Fatal(err)
	}
	if m, _ := emu.Message("C0ALERTS", stamps[1]); m.Metadata == nil || m.Metadata.EventPayload["key"] != "k1" {
		t.Fatalf("metadata not recorded: %+v", m.Metadata)
	}

	// Oldest is inclusive here, so the page holds k4, k3, k2; the next k1.
	params := &slackgo.GetConversationHistoryParameters{ChannelID: "C0ALERTS", Oldest: stamps[1], Inclusive: true, Limit: 3, IncludeAllMetadata: true}
	resp, err := api.GetConversationHistoryContext(ctx(t), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(resp.Messages); got != "verdict k4,verdict k3,verdict k2" || !resp.HasMore {
		t.Fatalf("first page %q, has_more %v", got, resp.HasMore)
	}
	if resp.Messages[0].Metadata.EventType != "precheck_verdict" || resp.Messages[0].Metadata.EventPayload["key"] != "k4" {
		t.Fatalf("metadata %+v", resp.Messages[0].Metadata)
	}
	if resp.Messages[2].Metadata.EventType != "" {
		t.Fatalf("a message without metadata came back with %+v", resp.Messages[2].Metadata)
	}
	params.Cursor = resp.ResponseMetaData.NextCursor
	resp, err = api.GetConversationHistoryContext(ctx(t), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(resp.Messages); got != "verdict k1" || resp.HasMore {
		t.Fatalf("second page %q, has_more %v", got, resp.HasMore)
	}

	// Without include_all_metadata, no metadata; exclusive oldest leaves k1 out.
	resp, err = api.GetConversationHistoryContext(ctx(t), &slackgo.GetConversationHistoryParameters{ChannelID: "C0ALERTS", Oldest: stamps[1]})
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(resp.Messages); got != "verdict k4,verdict k3,verdict k2" || resp.Messages[0].Metadata.EventType != "" {
		t.Fatalf("got %q with metadata %+v", got, resp.Messages[0].Metadata)
	}
}

func texts(msgs []slackgo.Message) string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return strings.Join(out, ",")
}

func TestHistoryAndMetadataRefusals(t *testing.T) {
	_, ts := newServer(t, nil)
	cases := []struct {
		name   string
		method string
		form   url.Values
		want   string
	}{
		{"no token", "conversations.history", url.Values{"channel": {"C0ALERTS"}}, "not_authed"},
		{"bad token", "conversations.history", url.Values{"token": {"xoxb-nope"}, "channel": {"C0ALERTS"}}, "invalid_auth"},
		{"channel by name", "conversations.history", url.Values{"token": {token}, "channel": {"#alerts"}}, "channel_not_found"},
		{"bot not in channel", "conversations.history", url.Values{"token": {token}, "channel": {"C0PRIVATE"}}, "not_in_channel"},
		{"bad cursor", "conversations.history", url.Values{"token": {token}, "channel": {"C0ALERTS"}, "cursor": {"nope"}}, "invalid_cursor"},
		{"bad limit", "conversations.history", url.Values{"token": {token}, "channel": {"C0ALERTS"}, "limit": {"-1"}}, "invalid_limit"},
		{"metadata not JSON", "chat.postMessage", url.Values{"token": {token}, "channel": {"C0ALERTS"}, "text": {"x"}, "metadata": {"{"}}, "invalid_metadata_format"},
		{"metadata without event type", "chat.postMessage", url.Values{"token": {token}, "channel": {"C0ALERTS"}, "text": {"x"}, "metadata": {`{"event_payload":{}}`}}, "invalid_metadata_format"},
		{"metadata payload not an object", "chat.postMessage", url.Values{"token": {token}, "channel": {"C0ALERTS"}, "text": {"x"}, "metadata": {`{"event_type":"a","event_payload":[1]}`}}, "invalid_metadata_format"},
		{"metadata too large", "chat.postMessage", url.Values{"token": {token}, "channel": {"C0ALERTS"}, "text": {"x"}, "metadata": {`{"event_type":"a","event_payload":{"k":"` + strings.Repeat("x", 9000) + `"}}`}}, "metadata_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.PostForm(ts.URL+"/api/"+c.method, c.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), `"error":"`+c.want+`"`) {
				t.Fatalf("answer %s, want error %s", body, c.want)
			}
		})
	}
}
