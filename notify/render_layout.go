package notify

import (
	"fmt"
	"slices"
	"strings"

	"precheckwatch/precheck"
)

// chunk is one instance (in a digest, one task) as rendered text.
type chunk struct {
	text string
	// hints lists the fix hints the text spells out; later chunks say
	// "same fix as above" instead of repeating them.
	hints []string
}

// budget bounds a list of chunks laid out in sections.
type budget struct {
	sectionMax int // most text in one section
	sections   int // most sections
	total      int // most text in all sections together
}

// renderChunk renders chunk i, in full or compact form, knowing which fix
// hints earlier chunks already spelled out. A compact chunk fits within
// the budget's sectionMax.
type renderChunk func(i int, compact bool, shownHints map[string]bool) chunk

// chunkSep separates chunks within a section.
const chunkSep = "\n\n"

// fit lays n chunks out in sections within b, in order. When every chunk
// fits in full form, that is the layout; otherwise it takes the compact
// forms and stops at the first that no longer fits. It returns the section
// texts and how many chunks they hold; the caller counts the rest in an
// "…and N more" line.
func fit(m markup, n int, render renderChunk, b budget) (sections []string, shown int) {
	if sections, shown = pack(m, n, render, false, b); shown == n {
		return sections, shown
	}
	return pack(m, n, render, true, b)
}

func pack(m markup, n int, render renderChunk, compact bool, b budget) ([]string, int) {
	var sections []string
	used, last := 0, 0 // text in all sections, text in the last one
	sep := m.size(chunkSep)
	hints := map[string]bool{}
	for i := range n {
		c := render(i, compact, hints)
		size := m.size(c.text)
		switch {
		case len(sections) > 0 && last+sep+size <= b.sectionMax && used+sep+size <= b.total:
			sections[len(sections)-1] += chunkSep + c.text
			used += sep + size
			last += sep + size
		case len(sections) < b.sections && size <= b.sectionMax && used+size <= b.total:
			sections = append(sections, c.text)
			used += size
			last = size
		default:
			return sections, i
		}
		for _, h := range c.hints {
			hints[h] = true
		}
	}
	return sections, n
}

// passedPerLine is how many passed codes one compact line lists.
const passedPerLine = 6

// moreItemsReserve is room kept for the "…and N more checks" line.
const moreItemsReserve = 100

// itemForm is how much of an instance's item list a chunk shows.
type itemForm int

const (
	// allItems puts every item on a line of its own.
	allItems itemForm = iota
	// passedAsCodes lists plainly passed items as bare codes.
	passedAsCodes
	// passedAsCount only counts plainly passed items.
	passedAsCount
)

// instanceChunk renders one instance: a heading, then its items worst first,
// each non-passing one with its fix hint, passed ones as form says. With
// max > 0 the item list is cut short to keep the chunk within max.
func instanceChunk(m markup, in precheck.Instance, form itemForm, shownHints map[string]bool, max int) chunk {
	type entry struct {
		text  string
		items int
		hint  string // a fix hint this entry spells out
	}
	var entries []entry
	var passed []string
	spelled := map[string]bool{}
	for _, it := range in.Items {
		if form != allItems && it.Level == precheck.Pass && it.Raw == "PASSED" {
			passed = append(passed, m.code(it.Code))
			continue
		}
		e := entry{text: m.item(itemLine(m, it)), items: 1}
		if it.Level != precheck.Pass {
			h := hintOf(it)
			if shownHints[h] || spelled[h] {
				e.text += "\n" + m.hint("same fix as above")
			} else {
				e.text += "\n" + m.hint(m.prose(h))
				e.hint = h
				spelled[h] = true
			}
		}
		entries = append(entries, e)
	}
	switch {
	case len(passed) == 0:
	case form == passedAsCount:
		entries = append(entries, entry{text: m.item("✅ " + plural(len(passed), "more check", "more checks") + " " + m.code("PASSED")), items: len(passed)})
	default:
		for codes := range slices.Chunk(passed, passedPerLine) {
			entries = append(entries, entry{
				text:  m.item("✅ " + m.code("PASSED") + ": " + strings.Join(codes, " ")),
				items: len(codes),
			})
		}
	}

	var c chunk
	var b strings.Builder
	b.WriteString(m.heading(instanceHeading(m, in)))
	size := m.size(b.String())
	for i, e := range entries {
		line := "\n" + e.text
		if max > 0 && size+m.size(line) > max-moreItemsReserve && !(i == len(entries)-1 && size+m.size(line) <= max) {
			left := 0
			for _, rest := range entries[i:] {
				left += rest.items
			}
			b.WriteString("\n" + m.item("…and "+plural(left, "more check", "more checks")+" on this instance (open the console)"))
			break
		}
		b.WriteString(line)
		size += m.size(line)
		if e.hint != "" {
			c.hints = append(c.hints, e.hint)
		}
	}
	if len(in.Items) == 0 {
		b.WriteString("\n" + m.item("no check reported"))
	}
	c.text = b.String()
	return c
}

// instanceHeading names an instance: its id, source type and check time.
func instanceHeading(m markup, in precheck.Instance) string {
	checked := "check time not reported"
	if !in.CheckTime.IsZero() {
		checked = "checked " + utc(in.CheckTime)
	}
	return "🖥️ " + m.code(in.InstanceID) + " · " + sourceType(m, in.SourceType) + " · " + checked
}

// sourceType shows the raw source type, with its common name when known.
func sourceType(m markup, raw string) string {
	if oneLine(raw) == "" {
		return "source type not reported"
	}
	if name, ok := sourceNames[strings.ToUpper(strings.TrimSpace(raw))]; ok {
		return m.bold(name) + " (" + m.text(raw) + ")"
	}
	return m.text(raw)
}

// itemLine is one item: level, human name, code and raw result.
func itemLine(m markup, it precheck.Item) string {
	var b strings.Builder
	b.WriteString(levelEmoji(it.Level) + " ")
	if name := oneLine(it.Name); name != "" && name != it.Code {
		if it.Level == precheck.Pass {
			b.WriteString(m.text(name))
		} else {
			b.WriteString(m.bold(m.text(name)))
		}
		b.WriteString(" ")
	}
	b.WriteString(m.code(it.Code) + " → " + m.code(it.Raw))
	return b.String()
}

// hintOf is the fix hint of a non-passing item: its own, else the
// catalogue's, else a pointer to the console.
func hintOf(it precheck.Item) string {
	if h := strings.TrimSpace(it.Hint); h != "" {
		return h
	}
	if entry, ok := precheck.Catalogue[it.Code]; ok && entry.Hint != "" {
		return entry.Hint
	}
	return "Open the precheck in the Security Center console for details."
}

// tally counts instances and items by level.
type tally struct {
	instances, pass, warn, fail int
}

func tallyOf(instances []precheck.Instance) tally {
	var t tally
	for _, in := range instances {
		t.instances++
		for _, it := range in.Items {
			switch it.Level {
			case precheck.Pass:
				t.pass++
			case precheck.Warn:
				t.warn++
			default:
				t.fail++
			}
		}
	}
	return t
}

// moreInstances is the line that counts instances left out.
func moreInstances(m markup, rest []precheck.Instance, console string) string {
	t := tallyOf(rest)
	return m.bold(fmt.Sprintf("…and %s", plural(t.instances, "more instance", "more instances"))) +
		fmt.Sprintf(" (%s: %d failed, %s, %d passed): ", plural(t.pass+t.warn+t.fail, "check", "checks"), t.fail, plural(t.warn, "warning", "warnings"), t.pass) +
		m.link("open the console", console)
}
