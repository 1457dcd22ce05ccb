package notify

import (
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

// Budget bounds a list of instances or tasks laid out in sections, as the
// channel's limits allow (sizes as its Markup measures them).
type Budget struct {
	SectionMax int // most text in one section
	Sections   int // most sections
	Total      int // most text in all sections together
}

// renderChunk renders chunk i, in full or compact form, knowing which fix
// hints earlier chunks already spelled out. A compact chunk fits within
// the budget's SectionMax.
type renderChunk func(i int, compact bool, shownHints map[string]bool) chunk

// chunkSep separates chunks within a section.
const chunkSep = "\n\n"

// fit lays n chunks out in sections within b, in order. When every chunk
// fits in full form, that is the layout; otherwise it takes the compact
// forms and stops at the first that no longer fits. It returns the section
// texts and how many chunks they hold; the caller counts the rest in an
// "…and N more" line.
func fit(m Markup, n int, render renderChunk, b Budget) (sections []string, shown int) {
	return fitJoined(m, n, render, b, chunkSep)
}

// fitJoined is fit with chunks joined by sep within a section.
func fitJoined(m Markup, n int, render renderChunk, b Budget, sep string) (sections []string, shown int) {
	if sections, shown = pack(m, n, render, false, b, sep); shown == n {
		return sections, shown
	}
	return pack(m, n, render, true, b, sep)
}

func pack(m Markup, n int, render renderChunk, compact bool, b Budget, join string) ([]string, int) {
	// A section's chunks are joined once it is complete: adding each chunk
	// to a string would copy the whole section again for every chunk.
	var sections [][]string
	used, last := 0, 0 // text in all sections, text in the last one
	sep := m.Size(join)
	hints := map[string]bool{}
	shown := 0
	for ; shown < n; shown++ {
		c := render(shown, compact, hints)
		size := m.Size(c.text)
		if len(sections) > 0 && last+sep+size <= b.SectionMax && used+sep+size <= b.Total {
			end := len(sections) - 1
			sections[end] = append(sections[end], c.text)
			used += sep + size
			last += sep + size
		} else if len(sections) < b.Sections && size <= b.SectionMax && used+size <= b.Total {
			sections = append(sections, []string{c.text})
			used += size
			last = size
		} else {
			break
		}
		for _, h := range c.hints {
			hints[h] = true
		}
	}
	texts := make([]string, len(sections))
	for i, chunks := range sections {
		texts[i] = strings.Join(chunks, join)
	}
	return texts, shown
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
func instanceChunk(m Markup, w *phrases, in precheck.Instance, form itemForm, shownHints map[string]bool, max int) chunk {
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
			passed = append(passed, m.Code(it.Code))
			continue
		}
		e := entry{text: m.Item(itemLine(m, w, it)), items: 1}
		if it.Level != precheck.Pass {
			h := w.hint(it)
			if shownHints[h] || spelled[h] {
				e.text += "\n" + m.Hint(w.sameFix)
			} else {
				e.text += "\n" + m.Hint(m.Prose(h))
				e.hint = h
				spelled[h] = true
			}
		}
		entries = append(entries, e)
	}
	switch {
	case len(passed) == 0:
	case form == passedAsCount:
		entries = append(entries, entry{text: m.Item("✅ " + w.morePassed(len(passed)) + " " + m.Code("PASSED")), items: len(passed)})
	default:
		for codes := range slices.Chunk(passed, passedPerLine) {
			entries = append(entries, entry{
				text:  m.Item("✅ " + m.Code("PASSED") + w.passedCodes + strings.Join(codes, " ")),
				items: len(codes),
			})
		}
	}

	var c chunk
	var b strings.Builder
	b.WriteString(m.Heading(instanceHeading(m, w, in)))
	size := m.Size(b.String())
	newline := m.Size("\n")
	for i, e := range entries {
		line := newline + m.Size(e.text)
		if max > 0 && size+line > max-moreItemsReserve && !(i == len(entries)-1 && size+line <= max) {
			left := 0
			for _, rest := range entries[i:] {
				left += rest.items
			}
			b.WriteString("\n" + m.Item(w.moreChecks(left)))
			break
		}
		b.WriteString("\n")
		b.WriteString(e.text)
		size += line
		if e.hint != "" {
			c.hints = append(c.hints, e.hint)
		}
	}
	if len(in.Items) == 0 {
		b.WriteString("\n" + m.Item(w.noCheck))
	}
	c.text = b.String()
	return c
}

// instanceHeading names an instance: its id, source type and check time.
func instanceHeading(m Markup, w *phrases, in precheck.Instance) string {
	checked := w.checkTimeMissing
	if !in.CheckTime.IsZero() {
		checked = w.checked + w.when(in.CheckTime)
	}
	return "🖥️ " + m.Code(in.InstanceID) + " · " + sourceType(m, w, in.SourceType) + " · " + checked
}

// sourceType shows the raw source type, with its common name when known.
func sourceType(m Markup, w *phrases, raw string) string {
	if OneLine(raw) == "" {
		return w.sourceTypeMissing
	}
	if name, ok := sourceNames[strings.ToUpper(strings.TrimSpace(raw))]; ok {
		return m.Bold(name) + " (" + m.Text(raw) + ")"
	}
	return m.Text(raw)
}

// maxFlagged bounds the flagged databases named on one item's line.
const maxFlagged = 20

// itemLine is one item: level, human name, code and raw result, and the
// databases it flags when the Result names them.
func itemLine(m Markup, w *phrases, it precheck.Item) string {
	var b strings.Builder
	b.WriteString(levelEmoji(it.Level) + " ")
	if name := OneLine(w.itemName(it)); name != "" && name != it.Code {
		if it.Level == precheck.Pass {
			b.WriteString(m.Text(name))
		} else {
			b.WriteString(m.Bold(m.Text(name)))
		}
		b.WriteString(" ")
	}
	b.WriteString(m.Code(it.Code) + " → " + m.Code(it.Raw))
	if len(it.Databases) > 0 && it.Level != precheck.Pass {
		names := make([]string, 0, len(it.Databases))
		for _, db := range it.Databases[:min(len(it.Databases), maxFlagged)] {
			names = append(names, m.Code(db))
		}
		if more := len(it.Databases) - maxFlagged; more > 0 {
			names = append(names, w.andMore(more))
		}
		b.WriteString(" · " + w.flagged + strings.Join(names, w.listSep))
	}
	return b.String()
}

// itemName is an item's human name in the language: the catalogue's, else
// the one the item came with.
func (w *phrases) itemName(it precheck.Item) string {
	if entry, ok := precheck.Catalogue[it.Code]; ok && w.lang == Chinese && entry.NameZh != "" {
		return entry.NameZh
	}
	return it.Name
}

// hint is the fix hint of a non-passing item in the language: the
// catalogue's, else (in English) the item's own, else a pointer to the
// console.
func (w *phrases) hint(it precheck.Item) string {
	entry, known := precheck.Catalogue[it.Code]
	if w.lang == Chinese {
		if known && entry.HintZh != "" {
			return entry.HintZh
		}
		return w.unknownHint
	}
	if h := strings.TrimSpace(it.Hint); h != "" {
		return h
	}
	if known && entry.Hint != "" {
		return entry.Hint
	}
	return w.unknownHint
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
func moreInstances(m Markup, w *phrases, rest []precheck.Instance) string {
	t := tallyOf(rest)
	return m.Bold(w.moreInstances(t.instances)) + w.moreTally(t.pass+t.warn+t.fail, t.fail, t.warn, t.pass) +
		m.Link(w.openConsole, DefaultConsoleURL)
}
