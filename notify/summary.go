package notify

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"precheckwatch/precheck"
)

// Member is one database of a fleet run, as the run's summary shows it.
type Member struct {
	// ID is the database's identity across runs: runs are compared by it,
	// so a database renamed since the last run is neither new nor gone.
	ID string
	// Database names the database for people.
	Database string
	// Task is the database's precheck task in the run.
	Task precheck.Task
	// Outcome is the task's sealed verdict; nil when the run ended (its
	// deadline passed) before the task had one.
	Outcome *precheck.Outcome
}

// Run is a fleet run as its summary tells it.
type Run struct {
	// Fleet names the fleet for people (its regions, types and pattern).
	Fleet string
	// ID is the run's id; Started when it began.
	ID      string
	Started time.Time
	Members []Member
	// Previous are the databases of the fleet's last run, by ID; nil when
	// this is the fleet's first run.
	Previous map[string]Prior
}

// Prior is a database as the fleet's last run left it.
type Prior struct {
	// Database names the database for people, as it was named then.
	Database string
	// Verdict is the run's verdict of it, "" when it had none.
	Verdict precheck.Verdict
}

// Ready reports whether a verdict says the database can be backed up.
func Ready(v precheck.Verdict) bool { return v == precheck.Passed }

// Summary is what every channel shows of a fleet run: counts by verdict,
// what changed since the last run, the databases that are not ready with
// their failing items and hints, and the ready ones as a compact list. It
// is one message however big the fleet: what does not fit is counted in
// "…and N more" lines. It mentions nobody: the verdicts that page are
// posted on their own.
type Summary struct {
	w        *phrases
	s        *summaryPhrases
	run      Run
	notReady []summaryEntry // worst first, then by name
	ready    []Member       // by name
	changes  []change       // worse, then better, new, removed
	counts   map[precheck.Verdict]int
}

// summaryEntry is a database that is not ready; view is nil when it has
// no verdict.
type summaryEntry struct {
	m    Member
	view *Verdict
}

// verdictOf is a member's verdict, "" when it has none.
func verdictOf(m Member) precheck.Verdict {
	if m.Outcome == nil {
		return ""
	}
	return m.Outcome.Verdict
}

// rank orders a summary's verdicts, worst highest: no verdict ranks with
// TIMED_OUT, since either leaves readiness unknown.
func rank(v precheck.Verdict) int {
	if v == "" {
		return Severity(precheck.TimedOut)
	}
	return Severity(v)
}

// changeKind is how a database changed since the last run.
type changeKind int

const (
	worse changeKind = iota
	better
	added
	removed
)

// change is one database's change since the last run.
type change struct {
	kind     changeKind
	database string
	from, to precheck.Verdict
	// failing are the codes of the items that did not pass, for a change
	// to a verdict that is not ready.
	failing []string
}

// NewSummary orders a run's databases for its summary, to be told in lang.
func NewSummary(run Run, lang Lang) Summary {
	s := Summary{w: lang.words(), s: lang.summaryWords(), run: run, counts: map[precheck.Verdict]int{}}
	members := slices.Clone(run.Members)
	slices.SortStableFunc(members, func(a, b Member) int {
		return cmp.Or(rank(verdictOf(b))-rank(verdictOf(a)), strings.Compare(a.Database, b.Database))
	})
	current := make(map[string]bool, len(members))
	for _, m := range members {
		current[m.ID] = true
		v := verdictOf(m)
		s.counts[v]++
		switch {
		case Ready(v):
			s.ready = append(s.ready, m)
		case m.Outcome == nil:
			s.notReady = append(s.notReady, summaryEntry{m: m})
		default:
			view := NewVerdict(m.Task, *m.Outcome, lang)
			s.notReady = append(s.notReady, summaryEntry{m: m, view: &view})
		}
		if run.Previous == nil {
			continue
		}
		p, known := run.Previous[m.ID]
		prev := p.Verdict
		switch {
		case !known:
			s.changes = append(s.changes, change{kind: added, database: m.Database, to: v, failing: failingCodes(m)})
		case prev != v && rank(v) >= rank(prev):
			s.changes = append(s.changes, change{kind: worse, database: m.Database, from: prev, to: v, failing: failingCodes(m)})
		case prev != v:
			s.changes = append(s.changes, change{kind: better, database: m.Database, from: prev, to: v, failing: failingCodes(m)})
		}
	}
	var gone []Prior
	for id, p := range run.Previous {
		if !current[id] {
			gone = append(gone, p)
		}
	}
	slices.SortFunc(gone, func(a, b Prior) int {
		return cmp.Or(strings.Compare(a.Database, b.Database), strings.Compare(string(a.Verdict), string(b.Verdict)))
	})
	for _, p := range gone {
		s.changes = append(s.changes, change{kind: removed, database: p.Database, from: p.Verdict})
	}
	slices.SortStableFunc(s.changes, func(a, b change) int { return int(a.kind) - int(b.kind) })
	return s
}

// failingCodes are the codes of a member's items that did not pass, each
// once, worst first.
func failingCodes(m Member) []string {
	if m.Outcome == nil {
		return nil
	}
	var codes []string
	for _, in := range worstFirst(m.Outcome.Instances) {
		for _, it := range in.Items {
			if it.Level != precheck.Pass && !slices.Contains(codes, it.Code) {
				codes = append(codes, it.Code)
			}
		}
	}
	return codes
}

// Worst is the worst verdict of the run, "" when the worst is a database
// without one; PASSED when every database is ready or there is none.
func (s Summary) Worst() precheck.Verdict {
	if len(s.notReady) > 0 {
		return verdictOf(s.notReady[0].m)
	}
	return precheck.Passed
}

// AllReady reports whether every database of the run is ready.
func (s Summary) AllReady() bool { return len(s.notReady) == 0 }

// Title is the summary as a notification names it, unescaped, in the
// words of the verdicts' titles so that a robot's keyword finds it.
func (s Summary) Title() string {
	head := s.emoji() + " " + s.s.title
	if fleet := ClipRunes(OneLine(s.run.Fleet), 60); fleet != "" {
		head += " · " + fleet
	}
	return head + s.w.colon + s.headline()
}

// emoji marks the run's worst verdict.
func (s Summary) emoji() string {
	if s.AllReady() {
		return verdictEmoji(precheck.Passed)
	}
	if w := s.Worst(); w != "" {
		return verdictEmoji(w)
	}
	return pendingEmoji
}

// pendingEmoji marks a database without a verdict.
const pendingEmoji = "⏳"

// headline says how many databases are not ready.
func (s Summary) headline() string {
	n := len(s.run.Members)
	switch {
	case n == 0:
		return s.s.noDatabases
	case s.AllReady():
		return s.s.allReady(n)
	}
	return s.s.notReadyOf(len(s.notReady), n)
}

// Fallback is the one-line notification text, unescaped.
func (s Summary) Fallback() string { return s.Title() + s.s.sentenceEnd + " " + s.Tally() }

// Tally counts the databases per verdict, worst first.
func (s Summary) Tally() string {
	verdicts := slices.Collect(maps.Keys(s.counts))
	slices.SortFunc(verdicts, func(a, b precheck.Verdict) int {
		return cmp.Or(rank(b)-rank(a), strings.Compare(string(a), string(b)))
	})
	var parts []string
	for _, v := range verdicts {
		parts = append(parts, fmt.Sprintf("%s %d", s.badge(v), s.counts[v]))
	}
	if len(parts) == 0 {
		return s.s.noDatabases
	}
	return strings.Join(parts, " · ")
}

// badge is a verdict as emoji and word, or the mark of no verdict.
func (s Summary) badge(v precheck.Verdict) string {
	if v == "" {
		return pendingEmoji + " " + s.s.noVerdict
	}
	return s.w.badge(v)
}

// Facts names the run: its id, when it started, and how many databases
// it holds.
func (s Summary) Facts(m Markup) string {
	parts := []string{s.s.run + " " + m.Code(s.run.ID)}
	if !s.run.Started.IsZero() {
		parts = append(parts, s.s.startedAt+s.w.when(s.run.Started))
	}
	parts = append(parts, s.s.databases(len(s.run.Members)))
	if n := s.counts[""]; n > 0 {
		parts = append(parts, s.s.pendingAtEnd(n))
	}
	return strings.Join(parts, " · ")
}

// summaryShare is the part of a summary's room the list of changes may
// take when not everything fits (a quarter), and that kept for the ready
// databases (a fifth): the databases not ready get the rest.
const (
	changesShare = 4
	readyShare   = 5
)

// summaryNoteReserve is room kept in each list for its "…and N more"
// line.
const summaryNoteReserve = 300

// Sections lays the summary's lists out within b, in order: what changed
// since the last run, the databases not ready, the ready ones. Each list
// starts with its heading; what does not fit is counted in a line at its
// end. b.Total counts the paragraph between two sections.
func (s Summary) Sections(m Markup, b Budget) []string {
	lists := []summaryList{s.changeList(m), s.notReadyList(m), s.readyList(m)}
	var out []string
	whole := true
	for _, l := range lists {
		sections, shown := l.layout(m, b)
		whole = whole && shown == l.n
		out = append(out, sections...)
	}
	if whole && fits(m, out, b) {
		return out
	}
	// Not everything fits: the changes take at most their share, the
	// ready list keeps its share (or less, when it needs less), and the
	// databases not ready get the rest.
	left := b
	changes, _ := lists[0].layout(m, share(b, changesShare))
	left = less(m, left, changes)
	readyAlone, _ := lists[2].layout(m, share(b, readyShare))
	notReady, _ := lists[1].layout(m, less(m, left, readyAlone))
	left = less(m, left, notReady)
	ready, _ := lists[2].layout(m, left)
	return slices.Concat(changes, notReady, ready)
}

// share is 1/n of b, with room for at least one section and its
// "…and N more" line.
func share(b Budget, n int) Budget {
	return Budget{SectionMax: b.SectionMax, Sections: max(2, b.Sections/n), Total: b.Total / n}
}

// less is b once sections are laid out in it.
func less(m Markup, b Budget, sections []string) Budget {
	return Budget{SectionMax: b.SectionMax, Sections: b.Sections - len(sections), Total: b.Total - used(m, sections)}
}

// used is the room sections take, each with the paragraph before it.
func used(m Markup, sections []string) int {
	n := 0
	for _, s := range sections {
		n += m.Size(s) + m.Size(paragraphSep)
	}
	return n
}

func fits(m Markup, sections []string, b Budget) bool {
	return len(sections) <= b.Sections && used(m, sections) <= b.Total
}

// paragraphSep is what a channel puts between two sections at most.
const paragraphSep = "\n\n"

// summaryList is one list of a summary: its heading, then n entries
// rendered by render and joined by sep, and the line that counts the
// entries left out.
type summaryList struct {
	heading string
	// headSep comes between the heading and the first entry.
	headSep string
	n       int
	sep     string
	render  renderChunk
	more    func(shown int) string
}

// layout lays the list out within b: the heading, every entry in full
// when all fit, else in compact form as far as they fit, and the
// "…and N more" line.
func (l summaryList) layout(m Markup, b Budget) (sections []string, shown int) {
	head := m.Size(l.heading + l.headSep)
	inner := Budget{SectionMax: b.SectionMax - head, Sections: b.Sections - 1, Total: b.Total - head - summaryNoteReserve}
	if l.n > 0 && inner.Sections > 0 && inner.SectionMax > 0 && inner.Total > 0 {
		sections, shown = fitJoined(m, l.n, l.render, inner, l.sep)
	}
	if len(sections) == 0 {
		sections = []string{l.heading}
	} else {
		sections[0] = l.heading + l.headSep + sections[0]
	}
	if shown == l.n {
		return sections, shown
	}
	more := l.more(shown)
	if last := len(sections) - 1; m.Size(sections[last])+m.Size("\n"+more) <= b.SectionMax {
		sections[last] += "\n" + more
	} else {
		sections = append(sections, more)
	}
	return sections, shown
}

// changeList is the list of what changed since the last run, or the one
// line saying there is nothing to compare or nothing changed.
func (s Summary) changeList(m Markup) summaryList {
	l := summaryList{heading: m.Bold(s.s.changesSince), headSep: "\n", n: len(s.changes), sep: "\n",
		render: func(i int, _ bool, _ map[string]bool) chunk {
			return chunk{text: m.Item(s.changeLine(m, s.changes[i]))}
		},
		more: func(shown int) string { return m.Item(m.Bold(s.s.moreChanges(len(s.changes) - shown))) },
	}
	if s.run.Previous == nil || len(s.changes) == 0 {
		line := s.s.firstRun
		if s.run.Previous != nil {
			line = s.s.noChange
		}
		l.n, l.render = 1, func(int, bool, map[string]bool) chunk { return chunk{text: m.Item(line)} }
	}
	return l
}

// maxChangeCodes bounds the failing items a change names.
const maxChangeCodes = 3

// changeLine is one change, e.g. "❌ orders-db: PASSED → FAILED
// (MYSQL_BINLOG)".
func (s Summary) changeLine(m Markup, c change) string {
	name := m.Code(c.database)
	var line string
	switch c.kind {
	case added:
		line = s.s.newDatabase + " " + name + s.w.colon + s.badge(c.to)
	case removed:
		line = s.s.removedDatabase + " " + name + s.w.open + s.s.was + s.badge(c.from) + s.w.closeParen
	default:
		line = s.emojiOf(c.to) + " " + name + s.w.colon + s.word(c.from) + " → " + s.word(c.to)
	}
	if len(c.failing) > 0 {
		codes := make([]string, 0, maxChangeCodes+1)
		for _, code := range c.failing[:min(len(c.failing), maxChangeCodes)] {
			codes = append(codes, m.Code(code))
		}
		if more := len(c.failing) - maxChangeCodes; more > 0 {
			codes = append(codes, s.w.andMore(more))
		}
		line += s.w.open + strings.Join(codes, s.w.listSep) + s.w.closeParen
	}
	return line
}

// word is a verdict's word alone, as a change shows it.
func (s Summary) word(v precheck.Verdict) string {
	_, word, _ := strings.Cut(s.badge(v), " ")
	return word
}

func (s Summary) emojiOf(v precheck.Verdict) string {
	if v == "" {
		return pendingEmoji
	}
	return verdictEmoji(v)
}

// notReadyList is the list of databases not ready, worst first, each with
// its failing items and their fix hints (a hint once, "same fix as above"
// after); the compact form names the failing items only.
func (s Summary) notReadyList(m Markup) summaryList {
	return summaryList{
		heading: m.Bold(s.s.notReadyHeading(len(s.notReady))), headSep: "\n",
		n: len(s.notReady), sep: chunkSep,
		render: func(i int, compact bool, hints map[string]bool) chunk {
			return s.notReadyChunk(m, s.notReady[i], compact, hints)
		},
		more: func(shown int) string { return s.moreNotReady(m, s.notReady[shown:]) },
	}
}

// notReadyChunk is one database that is not ready.
func (s Summary) notReadyChunk(m Markup, e summaryEntry, compact bool, shownHints map[string]bool) chunk {
	heading := s.badge(verdictOf(e.m)) + " · " + m.Code(e.m.Database)
	if kind := databaseOf(e.m.Task, nil); kind != "" {
		heading += " · " + m.Text(kind)
	}
	heading += " · " + s.w.task + " " + m.Code(e.m.Task.TaskID)
	v := e.view
	if v == nil {
		if compact {
			return chunk{text: m.Item(heading)}
		}
		return chunk{text: heading + "\n" + s.s.pendingNote}
	}
	if compact {
		return s.compactChunk(m, heading, v, shownHints)
	}
	var lines []string
	var c chunk
	spelled := map[string]bool{}
	multi := len(v.instances) > 1
	for _, in := range v.instances {
		if in.Worst() == precheck.Pass {
			continue
		}
		if multi {
			lines = append(lines, "🖥️ "+m.Code(in.InstanceID))
		}
		for _, it := range in.Items {
			if it.Level == precheck.Pass {
				continue
			}
			line := m.Item(itemLine(m, s.w, it))
			if h := s.w.hint(it); shownHints[h] || spelled[h] {
				line += "\n" + m.Hint(s.w.sameFix)
			} else {
				line += "\n" + m.Hint(m.Prose(h))
				spelled[h] = true
				c.hints = append(c.hints, h)
			}
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		// No item to show (ERROR, TIMED_OUT, no instance): say why.
		lines = append(lines, v.Summary(m))
	}
	c.text = heading + "\n" + strings.Join(lines, "\n")
	return c
}

// maxCompactCodes bounds the failing items a compact entry names.
const maxCompactCodes = 5

// compactChunk is a database not ready on one line, its failing items'
// codes after its heading, followed by the fix hints no earlier entry
// spelled out.
func (s Summary) compactChunk(m Markup, heading string, v *Verdict, shownHints map[string]bool) chunk {
	var codes []string
	var c chunk
	var hints []string
	for _, in := range v.instances {
		for _, it := range in.Items {
			if it.Level == precheck.Pass || slices.Contains(codes, m.Code(it.Code)) {
				continue
			}
			codes = append(codes, m.Code(it.Code))
			if h := s.w.hint(it); !shownHints[h] && !slices.Contains(c.hints, h) {
				c.hints = append(c.hints, h)
				hints = append(hints, "\n"+m.Hint(m.Prose(h)))
			}
		}
	}
	if len(codes) > maxCompactCodes {
		codes = append(codes[:maxCompactCodes], s.w.andMore(len(codes)-maxCompactCodes))
	}
	line := heading
	if len(codes) > 0 {
		line += s.w.colon + strings.Join(codes, s.w.listSep)
	}
	c.text = m.Item(line) + strings.Join(hints, "")
	return c
}

// moreNotReady is the line that counts the databases not ready left out.
func (s Summary) moreNotReady(m Markup, rest []summaryEntry) string {
	counts := map[precheck.Verdict]int{}
	var order []precheck.Verdict
	for _, e := range rest {
		v := verdictOf(e.m)
		if counts[v] == 0 {
			order = append(order, v)
		}
		counts[v]++
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[v], s.badge(v)))
	}
	return m.Bold(s.s.moreNotReady(len(rest))) + s.w.open + strings.Join(parts, s.w.listSep) + s.w.close +
		m.Link(s.w.openConsole, DefaultConsoleURL)
}

// readyList is the compact list of ready databases: their names on a line.
func (s Summary) readyList(m Markup) summaryList {
	return summaryList{
		heading: m.Bold(s.s.readyHeading(len(s.ready))), headSep: " ",
		n: len(s.ready), sep: s.w.listSep,
		render: func(i int, _ bool, _ map[string]bool) chunk { return chunk{text: m.Code(s.ready[i].Database)} },
		more:   func(shown int) string { return m.Bold(s.s.moreReady(len(s.ready) - shown)) },
	}
}
