// Package notify delivers rendered verdict messages to chat channels. Each
// channel (Slack, DingTalk) is a Sink that makes one attempt and classifies
// the result; retrying, dedupe and recording after success live once, in the
// pipeline above the sinks.
package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/slack-go/slack"
)

// Message is one rendered chat message, ready for any channel. A sink reads
// only the part meant for it.
type Message struct {
	// Key is the idempotency key of the message (task + channel + verdict).
	// DingTalk receives it as msgUuid, so a resend after an ambiguous
	// failure is not posted twice.
	Key string
	// Slack is what the Slack sinks post.
	Slack SlackContent
	// DingTalk is what the DingTalk sink posts.
	DingTalk DingTalkContent
	// ThreadOf is the ts of a Slack parent message to reply under, or ""
	// for a top-level post. Only the bot sink can thread.
	ThreadOf string
}

// SlackContent is a Slack message: fallback text, blocks in the body and,
// when Color is set, Detail blocks in an attachment beside a coloured bar
// (attachments are the only way Slack draws one).
type SlackContent struct {
	// Text is the notification and screen-reader fallback, sent unescaped:
	// escape user data (&, <, >) when rendering, keep <@U…> mentions as is.
	Text string
	// Blocks form the message body.
	Blocks []slack.Block
	// Color is the bar colour: "good", "warning", "danger" or "#RRGGBB".
	// Empty sends no attachment.
	Color string
	// Detail blocks are shown inside the coloured attachment.
	Detail []slack.Block
	// Broadcast also shows a thread reply in the channel (reply_broadcast).
	Broadcast bool
}

// DingTalkContent is a DingTalk markdown message. For a mention to render,
// the text must also contain "@<mobile>" or "@<userId>" for each entry.
type DingTalkContent struct {
	// Title is what the notification and the conversation preview show.
	Title string
	// Text is the markdown body.
	Text string
	// AtMobiles and AtUserIds are @-mentioned; leave them empty for a quiet message.
	AtMobiles []string
	AtUserIds []string
	// AtAll mentions everyone in the group.
	AtAll bool
}

// Status is the class of a delivery attempt.
type Status int

// The classes of a delivery attempt. The zero Status is none of them, so an
// unset Outcome never reads as sent.
const (
	// Sent: the channel accepted the message.
	Sent Status = iota + 1
	// Retry: not delivered, or not known to be; a later attempt may succeed.
	Retry
	// Failed: the channel refused the message for a reason a retry will not
	// fix (credentials, permissions, configuration, payload).
	Failed
)

// String names the status for logs and reports.
func (s Status) String() string {
	switch s {
	case Sent:
		return "sent"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	default:
		return fmt.Sprintf("status(%d)", int(s))
	}
}

// Outcome is the classified result of one delivery attempt.
type Outcome struct {
	Status Status
	// RetryAfter is the least wait before retrying, when the channel said
	// (Slack Retry-After, DingTalk's throttle window); 0 leaves it to the
	// pipeline's backoff.
	RetryAfter time.Duration
	// Ambiguous marks a Retry whose request may have reached the channel
	// (timeout or broken connection after sending): the message may already
	// be posted, so the pipeline settles it through its delivery record.
	Ambiguous bool
	// Channel is the Slack channel ID the message landed in (chat.update
	// needs the ID, not a #name).
	Channel string
	// Ref is the Slack ts of the posted or updated message; "" elsewhere.
	Ref string
	// Reason is a short, stable cause for reports and metrics, e.g.
	// "invalid_auth", "ratelimited", "http_503", "timeout", "errcode_130101".
	Reason string
	// Err says what went wrong, without any token, secret or webhook URL.
	Err error
}

// Sink is one chat channel.
type Sink interface {
	// Name identifies the channel in logs, reports and delivery records.
	Name() string
	// Send makes one delivery attempt (waiting on the sink's own rate
	// limiter within ctx) and classifies the result. It never retries.
	Send(ctx context.Context, m Message) Outcome
}

// Updater is a Sink whose posts can be edited in place, so a "precheck
// running" notice can become the verdict. Only the Slack bot sink is one.
type Updater interface {
	Sink
	// Update replaces the message ts in channel (an ID from Outcome.Channel)
	// with m, in one attempt.
	Update(ctx context.Context, channel, ts string, m Message) Outcome
}
