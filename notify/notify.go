// Package notify says what the chat channels are told: a task's verdict, a
// digest of many, the notice that a precheck is running, and the alert that
// the function itself cannot work. It decides the content once (grouping,
// order, wording, what gives way when a message is too big) and leaves each
// channel's markup, layout, limits and transport to its own package under
// notify/. Each channel is a Sink that renders its messages and makes one
// delivery attempt at a time; what a sink can do beyond that (search its
// history, take an idempotency key, update a post) it declares through the
// small interfaces below, and the pipeline asks for those, never for a
// channel by name.
package notify

import (
	"context"
	"net/http"
	"time"

	"precheckwatch/failure"
	"precheckwatch/notify/pace"
	"precheckwatch/precheck"
)

// Message is one message rendered for one channel.
type Message struct {
	// Key is the idempotency key of the message (task + channel + verdict).
	Key string
	// ThreadOf is where the channel's earlier post about the task is, for a
	// channel that threads replies under it; "" for a top-level post.
	ThreadOf string
	// Content is the message in the channel's own form; only the sink that
	// rendered it reads it.
	Content Content
}

// Content is a message in one channel's own form.
type Content interface {
	// Plain is the message as a person reads it, as plain lines for a
	// terminal.
	Plain() string
	// Check reports every way the content breaks the channel's limits.
	Check() error
}

// Finished is a task that reached its verdict.
type Finished struct {
	Task    precheck.Task
	Outcome precheck.Outcome
}

// DigestPage is one digest message and the tasks it shows.
type DigestPage struct {
	Message Message
	// Tasks are the tasks the message shows, worst first; none is only
	// counted in an "…and N more" line.
	Tasks []Finished
}

// Renderer renders the messages of one channel.
type Renderer interface {
	// Verdict renders a task's final verdict: what it is, on which
	// database instances, every item with its raw result (non-passing
	// first, each with its fix hint), and where to look next. The on-call
	// team is mentioned only when the verdict is not PASSED, and for a
	// change (o.Previous set) only when it is for the worse.
	Verdict(t precheck.Task, o precheck.Outcome) Message
	// Digest splits many finished tasks into as few digest messages as
	// keep every task shown, worst first.
	Digest(items []Finished) []DigestPage
	// Split divides items among digest pages as Digest does, without
	// rendering the pages.
	Split(items []Finished) [][]Finished
	// Started renders the short notice that a task's precheck is running.
	Started(t precheck.Task) Message
	// OperatorAlert renders the one alert sent when the function itself
	// cannot work.
	OperatorAlert(a Alert) Message
	// Summary renders a fleet run's summary as one message, however many
	// databases the run holds (see Summary).
	Summary(run Run) Message
}

// Sink is one chat channel.
type Sink interface {
	Renderer
	// Name identifies the channel in logs, reports and delivery records.
	Name() string
	// Send makes one delivery attempt at a message the sink rendered,
	// waiting within ctx for the channel's pace, and classifies the
	// result. It never retries.
	Send(ctx context.Context, m Message) Outcome
}

// Searcher is a Sink whose history tells whether a post whose answer was
// lost went out: every post is tagged with the keys of the verdicts it
// carries.
type Searcher interface {
	Sink
	// SendCarrying is Send for a message that carries the verdicts keys (a
	// digest); m.Key is always among them.
	SendCarrying(ctx context.Context, m Message, keys []string) Outcome
	// Find returns, for each of keys carried by a post made since since, a
	// Sent outcome naming the post; an error when it cannot tell.
	Find(ctx context.Context, keys []string, since time.Time) (map[string]Outcome, error)
}

// Idempotent is a Sink that takes the message key as an idempotency key:
// the channel posts a message sent again under the same key only once, so
// a send whose answer was lost is settled by repeating it exactly.
type Idempotent interface {
	Sink
	// Restore reads back content this sink rendered, from the JSON form
	// (encoding/json) it was kept in, so a repeat sends the same message.
	Restore(kept []byte) (Content, error)
}

// Updater is a Sink whose posts can be edited in place and threaded under,
// so a "precheck running" notice can become the verdict.
type Updater interface {
	Sink
	// Update replaces the message ts in channel (as Outcome.Channel and
	// Outcome.Ref named them) with m, in one attempt.
	Update(ctx context.Context, channel, ts string, m Message) Outcome
}

// Outcome is the classified result of one delivery attempt.
type Outcome struct {
	// Err is nil when the channel accepted the message. Otherwise it is
	// why not, classified by the sink: Transient or Throttled when a later
	// attempt may succeed, with the channel's own wait (a Retry-After, a
	// throttle window) as RetryAfter; Auth or Permanent when no retry
	// will. Its text names no token, secret or webhook URL.
	Err *failure.Error
	// Ambiguous marks a failure whose request may have reached the channel
	// (timeout or broken connection after sending): the message may already
	// be posted, so the pipeline settles it through its delivery record.
	Ambiguous bool
	// Unposted marks a failure that surely posted nothing: the channel
	// itself refused the message, or the request never left (no
	// connection, the pace, a message that cannot be encoded). A lost
	// answer or a gateway's 5xx page, which may follow a post, is not sure.
	Unposted bool
	// Channel and Ref name the post on a channel that answers where it is
	// (an Updater: channel ID and message ts); "" elsewhere.
	Channel string
	Ref     string
}

// Sent reports whether the channel accepted the message.
func (o Outcome) Sent() bool { return o.Err == nil }

// SendTimeout bounds one request to a channel from when it leaves: the wait
// for the channel's pace comes before, under the caller's deadline alone.
const SendTimeout = 5 * time.Second

// Wiring is what every channel's sink is built with besides its own
// configuration.
type Wiring struct {
	// HTTPClient sends the requests.
	HTTPClient *http.Client
	// Pacers pace each destination, shared by every instance when the
	// delivery record is.
	Pacers *pace.Pacers
}
