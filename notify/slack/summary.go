package slack

import (
	slackapi "github.com/slack-go/slack"

	"precheckwatch/notify"
)

// Summary renders a fleet run's summary: title and counts in the body;
// the changes, the databases not ready and the ready ones beside the
// worst verdict's colour bar, then the run's facts and the console link.
func (r Renderer) Summary(run notify.Run) notify.Message {
	m := markup{}
	s := notify.NewSummary(run, r.Lang)
	body := []slackapi.Block{headerBlock(s.Title()), sectionBlock(s.Tally())}
	tail := []slackapi.Block{contextBlock(s.Facts(m)), buttonBlock(r.Lang.Console(), notify.DefaultConsoleURL)}
	fixed := slicesConcat(body, tail)
	sections := s.Sections(m, notify.Budget{
		SectionMax: MaxSectionText,
		Sections:   MaxBlocks - len(fixed),
		Total:      MaxBlockText - blockText(fixed),
	})
	return message(Content{
		Text:   m.TextUpTo(s.Fallback(), 1000),
		Blocks: body,
		Color:  colorOf(s.Worst()),
		Detail: append(sectionBlocks(sections, ""), tail...),
	})
}
