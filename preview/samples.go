package preview

import (
	"fmt"

	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/feishu"
	"precheckwatch/notify/sample"
	"precheckwatch/notify/slack"
)

// Sample is one message the page shows, as each channel renders it.
type Sample struct {
	// ID names the sample in the page: its element id and data-sample.
	ID string
	// Title says what the sample shows.
	Title string
	// Slack, DingTalk and Feishu are the message as each channel renders it.
	Slack    slack.Content
	DingTalk dingtalk.Content
	Feishu   feishu.Content
}

// The renderers of the samples, with mentions, so the page shows where
// mentions go.
var (
	slackRenderer    = slack.Renderer{Mention: "<!subteam^S0DBAONCALL>"}
	dingTalkRenderer = dingtalk.Renderer{AtMobiles: []string{"13800000000"}, AtUserIDs: []string{"oncall-dba"}}
	feishuRenderer   = feishu.Renderer{AtUserIDs: []string{"ou_oncalldba"}}
)

// renderSample renders one sample on every channel, in lang.
func renderSample(id, title string, lang notify.Lang, render func(notify.Renderer) notify.Message) Sample {
	s, d, f := slackRenderer, dingTalkRenderer, feishuRenderer
	s.Lang, d.Lang, f.Lang = lang, lang, lang
	return Sample{
		ID: id, Title: title,
		Slack:    render(s).Content.(slack.Content),
		DingTalk: render(d).Content.(dingtalk.Content),
		Feishu:   render(f).Content.(feishu.Content),
	}
}

// Samples renders the fixed set of messages the page shows: the verdicts
// of notify/sample that fit one message (MySQL all PASSED, SQL Server
// WARNING, Oracle FAILED, ERROR with a label full of markup, TIMED_OUT), a
// digest of them, the 200-instance result that must be cut short, the
// "precheck running" notice and the operator alert, in each language.
func Samples() ([]Sample, error) {
	verdicts, err := sample.Verdicts()
	if err != nil {
		return nil, err
	}
	byName := map[string]notify.Finished{}
	for _, v := range verdicts {
		byName[v.Name] = v.Finished
	}
	// The page shows that markup in a label stays text.
	errored := byName["error"]
	errored.Task.Label = `inventory <script>alert("x")</script> & *staging*`
	byName["error"] = errored
	shown := []struct{ name, title string }{
		{"mysql-passed", "MySQL, every check PASSED"},
		{"sqlserver-warning", "SQL Server in SIMPLE recovery: WARNING"},
		{"oracle-failed", "Oracle FAILED, with a result value outside the catalogue"},
		{"error", "ERROR, with markup in the task's label"},
		{"timed-out", "TIMED_OUT, no label"},
	}
	var mixed []notify.Finished
	for _, v := range shown {
		mixed = append(mixed, byName[v.name])
	}
	var samples []Sample
	for _, lang := range []notify.Lang{notify.English, notify.Chinese} {
		render := func(id, title string, render func(notify.Renderer) notify.Message) Sample {
			if lang == notify.Chinese {
				id, title = id+"-zh", "中文 · "+title
			}
			return renderSample(id, title, lang, render)
		}
		verdict := func(id, title string, f notify.Finished) Sample {
			return render(id, title, func(r notify.Renderer) notify.Message { return r.Verdict(f.Task, f.Outcome) })
		}
		for _, v := range shown {
			samples = append(samples, verdict(v.name, v.title, byName[v.name]))
		}
		pages := len(slackRenderer.Digest(mixed))
		for i := range pages {
			id, title := "digest-mixed", "Digest of five tasks"
			if pages > 1 {
				id, title = fmt.Sprintf("digest-mixed-%d", i+1), title+fmt.Sprintf(", page %d of %d", i+1, pages)
			}
			samples = append(samples, render(id, title, func(r notify.Renderer) notify.Message { return r.Digest(mixed)[i].Message }))
		}
		samples = append(samples,
			verdict("truncated-200-instances", "MySQL fleet of 200 instances, cut short to fit", byName["truncated-200-instances"]),
			render("started", `"Precheck running" notice (Slack threads the verdict under it)`, func(r notify.Renderer) notify.Message { return r.Started(sample.StartedTask) }),
			render("operator-alert", "Operator alert: the function cannot do its work", func(r notify.Renderer) notify.Message { return r.OperatorAlert(sample.OperatorAlert) }),
		)
	}
	return samples, nil
}
