package localcloud

import (
	"fmt"
	"io"
	"strings"

	"precheckwatch/localcloud/fault"
)

// Letter is one message a chat emulator accepted, as a person reads it.
type Letter struct {
	// Where names the service and conversation, e.g. "Slack #db-oncall".
	Where string
	// Seq is the letter's place in its service's posting order, from 0. A
	// letter keeps it, so Where and Seq tell a reader which ones are new.
	Seq int
	// Text is the message as the chat shows it, in plain lines.
	Text string
}

// Chat is one chat emulator, as the inbox, the demo and the bench read it.
type Chat struct {
	// Name is the channel's name in the function's reports: "slack",
	// "dingtalk", "feishu".
	Name string
	// Service names the service for people: "Slack", "DingTalk", "Feishu".
	Service string
	// Letters are the messages it accepted, in posting order.
	Letters func() []Letter
	// Requests counts the API requests it served, faults included.
	Requests func() int
	// Faults is its fault injector.
	Faults *fault.Injector
}

// Chats are the local cloud's chat emulators.
func (c *Cloud) Chats() []Chat {
	return []Chat{
		{Name: "slack", Service: "Slack", Requests: c.Slack.Requests, Faults: c.SlackFaults, Letters: func() (out []Letter) {
			for i, m := range c.Slack.Messages() {
				out = append(out, Letter{Where: slackWhere(m.Channel), Seq: i, Text: m.PlainText()})
			}
			return out
		}},
		{Name: "dingtalk", Service: "DingTalk", Requests: c.DingTalk.Requests, Faults: c.DingTalkFaults, Letters: func() (out []Letter) {
			for i, m := range c.DingTalk.Messages() {
				out = append(out, Letter{Where: "DingTalk " + m.Robot, Seq: i, Text: m.PlainText()})
			}
			return out
		}},
		{Name: "feishu", Service: "Feishu", Requests: c.Feishu.Requests, Faults: c.FeishuFaults, Letters: func() (out []Letter) {
			for i, m := range c.Feishu.Messages() {
				out = append(out, Letter{Where: "Feishu " + m.Bot, Seq: i, Text: m.PlainText()})
			}
			return out
		}},
	}
}

// Inbox lists every message the chat emulators accepted, each service's in
// posting order (a Slack message edited by chat.update reads as it is now).
func (c *Cloud) Inbox() []Letter {
	var out []Letter
	for _, chat := range c.Chats() {
		out = append(out, chat.Letters()...)
	}
	return out
}

// slackWhere names a Slack channel by the name people know it by.
func slackWhere(id string) string {
	if id == SlackChannelID {
		return "Slack #" + SlackChannel
	}
	return fmt.Sprintf("Slack %s", id)
}

// Print prints the letter's text under a heading, as the demo and the
// localcloud command show messages.
func (l Letter) Print(w io.Writer, heading string) {
	rule := strings.Repeat("─", 78)
	fmt.Fprintf(w, "\n%s\n%s\n%s\n%s\n", rule, heading, rule, strings.TrimSpace(l.Text))
}
