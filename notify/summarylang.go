package notify

import "fmt"

// summaryWords are the phrases of a fleet run's summary in the language.
func (l Lang) summaryWords() *summaryPhrases {
	if l == Chinese {
		return &zhSummary
	}
	return &enSummary
}

// summaryPhrases are everything a fleet run's summary says in one
// language beyond the verdicts' own phrases.
type summaryPhrases struct {
	// title holds the word the robots' keywords match ("precheck").
	title       string
	sentenceEnd string
	noDatabases string
	allReady    func(n int) string
	notReadyOf  func(notReady, n int) string
	noVerdict   string // the word for a database without a verdict

	run, startedAt string // before the run's id, before its start
	databases      func(n int) string
	pendingAtEnd   func(n int) string

	changesSince, firstRun, noChange string
	moreChanges                      func(n int) string
	newDatabase, removedDatabase     string
	was                              string // before a removed database's last verdict

	notReadyHeading func(n int) string
	pendingNote     string
	moreNotReady    func(n int) string
	readyHeading    func(n int) string
	moreReady       func(n int) string
}

var enSummary = summaryPhrases{
	title:       "Fleet precheck",
	sentenceEnd: ".",
	noDatabases: "no database in this run",
	allReady: func(n int) string {
		if n == 1 {
			return "the 1 database is ready"
		}
		return fmt.Sprintf("all %d databases ready", n)
	},
	notReadyOf: func(k, n int) string { return fmt.Sprintf("%d of %s not ready", k, plural(n, "database", "databases")) },
	noVerdict:  "NO VERDICT",

	run: "Run", startedAt: "started ",
	databases:    func(n int) string { return plural(n, "database", "databases") },
	pendingAtEnd: func(n int) string { return fmt.Sprintf("%d without a verdict by the run's deadline", n) },

	changesSince: "Since the last run",
	firstRun:     "The fleet's first run: nothing to compare with yet.",
	noChange:     "No database changed.",
	moreChanges:  func(n int) string { return "…and " + plural(n, "more change", "more changes") },
	newDatabase:  "🆕 new", removedDatabase: "➖ removed", was: "was ",

	notReadyHeading: func(n int) string { return fmt.Sprintf("Not ready (%d)", n) },
	pendingNote:     "No verdict by the run's deadline.",
	moreNotReady:    func(n int) string { return fmt.Sprintf("…and %d more not ready", n) },
	readyHeading:    func(n int) string { return fmt.Sprintf("Ready (%d):", n) },
	moreReady:       func(n int) string { return fmt.Sprintf("…and %d more ready", n) },
}

var zhSummary = summaryPhrases{
	title:       "批量预检查",
	sentenceEnd: "。",
	noDatabases: "本次没有数据库",
	allReady:    func(n int) string { return fmt.Sprintf("全部 %d 个数据库已就绪", n) },
	notReadyOf:  func(k, n int) string { return fmt.Sprintf("%d 个数据库中 %d 个未就绪", n, k) },
	noVerdict:   "无结论",

	run: "批次", startedAt: "开始于 ",
	databases:    func(n int) string { return fmt.Sprintf("共 %d 个数据库", n) },
	pendingAtEnd: func(n int) string { return fmt.Sprintf("%d 个到截止时间仍无结论", n) },

	changesSince: "与上次相比",
	firstRun:     "该数据库组首次运行，暂无可比较的结果。",
	noChange:     "没有数据库发生变化。",
	moreChanges:  func(n int) string { return fmt.Sprintf("……另有 %d 项变化", n) },
	newDatabase:  "🆕 新增", removedDatabase: "➖ 移除", was: "原为 ",

	notReadyHeading: func(n int) string { return fmt.Sprintf("未就绪（%d 个）", n) },
	pendingNote:     "到本批次截止时间仍无结论。",
	moreNotReady:    func(n int) string { return fmt.Sprintf("……另有 %d 个未就绪", n) },
	readyHeading:    func(n int) string { return fmt.Sprintf("已就绪（%d 个）：", n) },
	moreReady:       func(n int) string { return fmt.Sprintf("……另有 %d 个已就绪", n) },
}
