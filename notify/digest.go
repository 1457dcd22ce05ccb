package notify

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"precheckwatch/precheck"
)

// Pages splits items into as few digests as keep every task shown, worst
// tasks first, rendering each with render, which returns the message and
// how many of the digest's tasks it shows; with more than one page, each
// title says which page it is. The digests are told in lang.
//
// A page holds exactly the tasks it names: the handler records them as
// delivered with it. So when one page does not hold them all, the pages
// are cut with room kept for the widest label any number of pages could
// need (each shows at least one task), which settles them in one cut; a
// page that still shows fewer tasks than it was cut for keeps only those,
// and the rest wait for a later digest.
func Pages(items []Finished, lang Lang, render func(Digest) (Message, int)) []DigestPage {
	split := paginate(NewDigest(items, lang), render)
	var pages []DigestPage
	for i, d := range split {
		if len(split) > 1 {
			d.page = pageLabel(i+1, len(split))
		}
		m, shown := render(d)
		if shown < len(d.items) {
			d.items = d.items[:shown]
		}
		if len(d.items) > 0 {
			pages = append(pages, DigestPage{Message: m, Tasks: d.items})
		}
	}
	return pages
}

// Split is how Pages divides items among pages, without rendering the
// pages: what a caller needs to tell which tasks fill whole pages.
func Split(items []Finished, lang Lang, render func(Digest) (Message, int)) [][]Finished {
	var split [][]Finished
	for _, d := range paginate(NewDigest(items, lang), render) {
		split = append(split, d.items)
	}
	return split
}

// paginate divides d among pages: d itself when one page shows all its
// tasks, else d cut with room kept for the widest label any number of
// pages could need.
func paginate(d Digest, render func(Digest) (Message, int)) []Digest {
	if _, shown := render(d); shown == len(d.items) {
		if shown == 0 {
			return nil
		}
		return []Digest{d}
	}
	return cut(d, pageLabel(len(d.items), len(d.items)), render)
}

// cut splits d into pages that each show all their tasks when titled
// with label.
func cut(d Digest, label string, render func(Digest) (Message, int)) []Digest {
	var split []Digest
	for start := 0; start < len(d.items); {
		rest := d.slice(start, len(d.items))
		rest.page = label
		_, shown := render(rest)
		end := start + max(1, shown)
		split = append(split, d.slice(start, end))
		start = end
	}
	return split
}

// pageLabel is what a page's title adds to say which page it is.
func pageLabel(page, pages int) string { return fmt.Sprintf(" (%d/%d)", page, pages) }

// Worst is the worst verdict among the digest's tasks; PASSED for none.
func (d Digest) Worst() precheck.Verdict { return d.worst }

// Alerting reports whether any task calls for the on-call team.
func (d Digest) Alerting() bool { return d.alert }

// Tasks lays the digest's tasks out within b, in full when all fit, else
// in compact form: the sections, how many tasks they show, and the line
// that counts the tasks left out ("" when none is).
func (d Digest) Tasks(m Markup, b Budget) (sections []string, shown int, more string) {
	sections, shown = fit(m, len(d.views), func(i int, compact bool, hints map[string]bool) chunk {
		return taskChunk(m, d.w, d.views[i], compact, hints, b.SectionMax)
	}, b)
	if shown < len(d.views) {
		more = moreTasks(m, d.w, d.views[shown:])
	}
	return sections, shown, more
}

// Digest is what every channel shows of many finished tasks in one
// message.
type Digest struct {
	w      *phrases
	items  []Finished // worst first
	views  []Verdict  // items, as shown
	counts map[precheck.Verdict]int
	worst  precheck.Verdict
	alert  bool
	page   string // " (2/3)" when the digest is one page of several
}

// NewDigest orders items worst first, to be told in lang.
func NewDigest(items []Finished, lang Lang) Digest {
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b Finished) int {
		return Severity(b.Outcome.Verdict) - Severity(a.Outcome.Verdict)
	})
	views := make([]Verdict, len(items))
	for i, f := range items {
		views[i] = NewVerdict(f.Task, f.Outcome, lang)
	}
	return digestOf(lang.words(), items, views)
}

// slice is the digest of the tasks from i to j, already in order.
func (d Digest) slice(i, j int) Digest { return digestOf(d.w, d.items[i:j], d.views[i:j]) }

func digestOf(w *phrases, items []Finished, views []Verdict) Digest {
	d := Digest{w: w, items: items, views: views, counts: map[precheck.Verdict]int{}, worst: precheck.Passed}
	for _, v := range views {
		d.counts[v.out.Verdict]++
		d.alert = d.alert || alerting(v.out)
	}
	if len(views) > 0 {
		d.worst = views[0].out.Verdict
	}
	return d
}

// Title is the digest's headline.
func (d Digest) Title() string {
	if len(d.views) == 0 {
		return d.w.noneFinished
	}
	return d.w.badge(d.worst) + " · " + d.w.prechecksDone(len(d.views)) + d.page
}

// Tally counts tasks per verdict, worst first.
func (d Digest) Tally() string {
	verdicts := slices.Collect(maps.Keys(d.counts))
	slices.SortFunc(verdicts, func(a, b precheck.Verdict) int {
		if r := Severity(b) - Severity(a); r != 0 {
			return r
		}
		return strings.Compare(string(a), string(b))
	})
	var parts []string
	for _, v := range verdicts {
		parts = append(parts, fmt.Sprintf("%s %d", d.w.badge(v), d.counts[v]))
	}
	if len(parts) == 0 {
		return d.w.noVerdict
	}
	return strings.Join(parts, " · ")
}

// moreTasks is the line that counts tasks left out.
func moreTasks(m Markup, w *phrases, rest []Verdict) string {
	counts := map[precheck.Verdict]int{}
	var order []precheck.Verdict
	for _, v := range rest {
		if counts[v.out.Verdict] == 0 {
			order = append(order, v.out.Verdict)
		}
		counts[v.out.Verdict]++
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[v], w.badge(v)))
	}
	return m.Bold(w.moreTasks(len(rest))) + w.open + strings.Join(parts, w.listSep) + w.close + m.Link(w.openConsole, DefaultConsoleURL)
}

// taskChunk renders one task of a digest: its verdict, name and id, why it
// did not pass, and its instances (passed items as codes). The compact form
// counts passed items, names all-passed instances by id only, and cuts the
// rest short to fit max.
func taskChunk(m Markup, w *phrases, v Verdict, compact bool, shownHints map[string]bool, max int) chunk {
	var b strings.Builder
	heading := w.badge(v.out.Verdict)
	if name := nameOf(v.task, v.instances); name != "" {
		heading += " · " + m.Text(name)
	}
	b.WriteString(m.Heading(heading + " · " + w.task + " " + m.Code(v.task.TaskID)))
	b.WriteString("\n")
	b.WriteString(v.Summary(m))
	hints := maps.Clone(shownHints)
	var c chunk
	form := passedAsCodes
	if compact {
		form = passedAsCount
	}
	var passedIDs []string
	for i, in := range v.instances {
		if compact && in.Worst() == precheck.Pass {
			passedIDs = append(passedIDs, m.Code(in.InstanceID)+w.open+sourceType(m, w, in.SourceType)+w.closeParen)
			continue
		}
		room := 0
		if compact {
			room = max - m.Size(b.String()) - moreItemsReserve
		}
		ic := instanceChunk(m, w, in, form, hints, room)
		if compact && (room < moreItemsReserve || m.Size(ic.text) > room) {
			b.WriteString("\n" + m.Item(w.moreTaskInsts(len(v.instances)-i)))
			passedIDs = nil
			break
		}
		b.WriteString("\n")
		b.WriteString(ic.text)
		for _, h := range ic.hints {
			hints[h] = true
			c.hints = append(c.hints, h)
		}
	}
	if len(passedIDs) > 0 {
		line := "\n" + m.Item(w.allPassedOn+strings.Join(passedIDs, w.listSep))
		if m.Size(b.String())+m.Size(line) > max {
			line = "\n" + m.Item(w.allPassedOnMore(len(passedIDs)))
		}
		b.WriteString(line)
	}
	c.text = b.String()
	return c
}
