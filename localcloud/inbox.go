package localcloud

import "fmt"

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

// Inbox lists every message the chat emulators accepted, each service's in
// posting order (a Slack message edited by chat.update reads as it is now).
func (c *Cloud) Inbox() []Letter {
	var out []Letter
	for i, m := range c.Slack.Messages() {
		out = append(out, Letter{Where: slackWhere(m.Channel), Seq: i, Text: m.PlainText()})
	}
	for i, m := range c.DingTalk.Messages() {
		out = append(out, Letter{Where: "DingTalk " + m.Robot, Seq: i, Text: m.PlainText()})
	}
	for i, m := range c.Feishu.Messages() {
		out = append(out, Letter{Where: "Feishu " + m.Bot, Seq: i, Text: m.PlainText()})
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
