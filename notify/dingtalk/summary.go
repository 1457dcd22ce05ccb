package dingtalk

import "precheckwatch/notify"

// summarySections bounds the sections of a summary's text: its three lists
// and the lines that count what they leave out.
const summarySections = 8

// Summary renders a fleet run's summary: title and counts, the changes,
// the databases not ready and the ready ones, then the run's facts and
// the console link. It mentions nobody.
func (r Renderer) Summary(run notify.Run) notify.Message {
	m := markup{}
	s := notify.NewSummary(run, r.Lang)
	head := "### " + m.Text(s.Title()) + paragraph + s.Tally()
	foot := "---" + paragraph + s.Facts(m) + paragraph + m.Link(r.Lang.Console(), notify.DefaultConsoleURL)
	n := MaxTextBytes - len(head) - len(foot) - len(paragraph)
	sections := s.Sections(m, notify.Budget{SectionMax: n, Sections: summarySections, Total: n})
	return message(Content{
		Title: notify.ClipRunes(s.Title(), maxTitle),
		Text:  layout(head, sections, "", foot),
	})
}
