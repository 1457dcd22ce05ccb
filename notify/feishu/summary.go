package feishu

import "precheckwatch/notify"

// summarySections bounds the sections of a summary's body: its three lists
// and the lines that count what they leave out.
const summarySections = 8

// Summary renders a fleet run's summary: the title in the header coloured
// by the worst verdict; counts, changes, the databases not ready and the
// ready ones in the body; the run's facts in the note. It mentions nobody.
func (r Renderer) Summary(run notify.Run) notify.Message {
	m := r.markup()
	s := notify.NewSummary(run, r.Lang)
	c := r.withConsole(Content{
		Title:    notify.ClipRunes(s.Title(), maxTitle),
		Template: templateOf(s.Worst()),
		Note:     s.Facts(m),
	})
	head := s.Tally()
	b := r.room(c, head, "")
	b.Sections = summarySections
	c.Body = layout(head, s.Sections(m, b), "", "")
	return r.message(c)
}
