package notify

import (
	"fmt"
	"time"

	"precheckwatch/precheck"
)

// Lang is the language a channel's messages are written in.
type Lang string

// The languages messages are written in. The zero Lang is English.
const (
	English Lang = "en"
	Chinese Lang = "zh"
)

// ParseLang reads MESSAGE_LANG's values, "en" and "zh".
func ParseLang(s string) (Lang, bool) {
	switch Lang(s) {
	case English, Chinese:
		return Lang(s), true
	}
	return "", false
}

// words are the phrases of one language.
func (l Lang) words() *phrases {
	if l == Chinese {
		return &zh
	}
	return &en
}

// Console is the label of the link to Security Center's console.
func (l Lang) Console() string { return l.words().console }

// phrases are everything a message says in one language, apart from the
// user's data and the catalogue's item names and fix hints.
type phrases struct {
	lang Lang
	// verdicts by word, as a badge shows them
	passed, warning, failed, errored, timedOut, unknown string
	console, openConsole                                string

	errorSummary    func(progress int) string
	timedOutSummary func(progress int) string
	allPassed       func(checks, instances int) string
	failedN         func(n int) string
	warningsN       func(n int) string
	passedN         func(n int) string
	onInstances     func(n int) string
	reason, detail  string // before a cause, and before its own data
	causes          map[precheck.Cause]func(o precheck.Outcome) string
	listSep         string // between the parts of a summary
	sentenceEnd     string
	sentenceGap     string // between two sentences
	labelGap        string // between a label and what it labels
	// open, close and closeParen bracket an aside: open and closeParen
	// round it, close also leads on to what follows it (a link).
	open, close, closeParen string
	colon                   string // before what a headline introduces

	task, region, agent string
	queries             func(n int) string
	waited              func(d time.Duration) string
	decided, checked    string // before a time
	checkTimeMissing    string
	sourceTypeMissing   string
	noCheck             string
	sameFix             string
	unknownHint         string
	fallback            func(badge, subject, taskID string) string

	morePassed        func(n int) string
	passedCodes       string // before a list of passed codes
	moreChecks        func(n int) string
	moreInstances     func(n int) string
	moreTally         func(checks, failed, warnings, passed int) string
	moreTaskInsts     func(n int) string
	allPassedOn       string // before a list of instances
	allPassedOnMore   func(n int) string
	noneFinished      string
	prechecksDone     func(n int) string
	noVerdict         string
	moreTasks         func(n int) string
	started           string
	startedTitle      string
	startedNote       string
	alertHeadline     string
	alertNoCause      string
	serviceDenied     func(service, code string) string
	services          map[Service]string
	recordUnreachable string
	alertFixes        map[AlertCause]string
	alertWaiting      func(affected int) string
	verdictTitleWord  string

	nextSteps, checkAgent, readFailure, stillRunning, runAgain string

	flagged string // before the databases an item flags
	andMore func(n int) string
}

// badge is a verdict as emoji and word.
func (w *phrases) badge(v precheck.Verdict) string {
	switch v {
	case precheck.Passed:
		return verdictEmoji(v) + " " + w.passed
	case precheck.Warning:
		return verdictEmoji(v) + " " + w.warning
	case precheck.Failed:
		return verdictEmoji(v) + " " + w.failed
	case precheck.Error:
		return verdictEmoji(v) + " " + w.errored
	case precheck.TimedOut:
		return verdictEmoji(v) + " " + w.timedOut
	case "":
		return verdictEmoji(v) + " " + w.unknown
	default:
		return verdictEmoji(v) + " " + ClipRunes(OneLine(string(v)), 40)
	}
}

// verdictEmoji marks a verdict.
func verdictEmoji(v precheck.Verdict) string {
	switch v {
	case precheck.Passed:
		return "✅"
	case precheck.Warning:
		return "⚠️"
	case precheck.Failed:
		return "❌"
	case precheck.Error:
		return "🛑"
	case precheck.TimedOut:
		return "⏱️"
	default:
		return "❓"
	}
}

// cause words why o came to no verdict of its own; "" when it has no
// cause this version knows.
func (w *phrases) cause(o precheck.Outcome) string {
	if say, ok := w.causes[o.Cause]; ok {
		return say(o)
	}
	return ""
}

// service names s in the reader's words; a service without a name is
// shown as reports name it.
func (w *phrases) service(s Service) string {
	if name, ok := w.services[s]; ok {
		return name
	}
	return OneLine(string(s))
}

// asked is how long a task was asked about before its verdict.
func asked(o precheck.Outcome) time.Duration {
	if o.FirstSeen <= 0 || o.DecidedAt < o.FirstSeen {
		return 0
	}
	return (time.Duration(o.DecidedAt-o.FirstSeen) * time.Millisecond).Round(time.Second)
}

// when shows a time as the language's readers read clocks: UTC in
// English, Beijing time in Chinese.
func (w *phrases) when(t time.Time) string {
	if w.lang == Chinese {
		return t.In(beijing).Format("2006-01-02 15:04:05") + "（北京时间）"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// beijing is China Standard Time, UTC+8 all year.
var beijing = time.FixedZone("CST", 8*60*60)

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

var en = phrases{
	lang:   English,
	passed: "PASSED", warning: "WARNING", failed: "FAILED", errored: "ERROR", timedOut: "TIMED_OUT", unknown: "UNKNOWN",
	console: "Open the Security Center console", openConsole: "open the console",
	errorSummary: func(p int) string { return fmt.Sprintf("The precheck itself failed, at %d%% progress.", p) },
	timedOutSummary: func(p int) string {
		return fmt.Sprintf("No verdict before the deadline; the last progress seen was %d%%.", p)
	},
	allPassed: func(checks, instances int) string {
		return "All " + plural(checks, "check", "checks") + " passed on " + plural(instances, "instance", "instances") + "."
	},
	failedN:     func(n int) string { return fmt.Sprintf("%d failed", n) },
	warningsN:   func(n int) string { return plural(n, "warning", "warnings") },
	passedN:     func(n int) string { return fmt.Sprintf("%d passed", n) },
	onInstances: func(n int) string { return " on " + plural(n, "instance", "instances") },
	reason:      "Reason:", detail: "Detail:", listSep: ", ", sentenceEnd: ".", sentenceGap: " ", labelGap: " ",
	causes: map[precheck.Cause]func(o precheck.Outcome) string{
		precheck.CauseFailed: func(precheck.Outcome) string {
			return "Security Center reports the precheck failed (`Description=error`)."
		},
		precheck.CauseUnreadable:  func(precheck.Outcome) string { return "The precheck completed but its `Result` cannot be read." },
		precheck.CauseNoInstances: func(precheck.Outcome) string { return "The precheck completed without reporting any instance." },
		precheck.CauseUnknownTask: func(o precheck.Outcome) string {
			return fmt.Sprintf("Security Center knows no such task in this region (asked for %s).", asked(o))
		},
		precheck.CauseRefused: func(precheck.Outcome) string { return "Security Center refused the query." },
		precheck.CauseStillRunning: func(o precheck.Outcome) string {
			return fmt.Sprintf("Security Center still reported the precheck running after %s.", o.Deadline)
		},
		precheck.CauseUnanswered: func(o precheck.Outcome) string {
			return fmt.Sprintf("Security Center did not answer within %s.", o.Deadline)
		},
	},
	open: " (", close: "): ", closeParen: ")", colon: ": ",
	task: "task", region: "region", agent: "agent",
	queries: func(n int) string { return plural(n, "query", "queries") },
	waited:  func(d time.Duration) string { return d.String() + " from first seen to verdict" },
	decided: "decided ", checked: "checked ",

	checkTimeMissing: "check time not reported", sourceTypeMissing: "source type not reported",
	noCheck: "no check reported", sameFix: "same fix as above",
	unknownHint: "Open the precheck in the Security Center console for details.",
	fallback: func(badge, subject, taskID string) string {
		return badge + " precheck: " + subject + " (task " + taskID + ")"
	},
	morePassed:  func(n int) string { return plural(n, "more check", "more checks") },
	passedCodes: ": ",
	moreChecks: func(n int) string {
		return "…and " + plural(n, "more check", "more checks") + " on this instance (open the console)"
	},
	moreInstances: func(n int) string { return "…and " + plural(n, "more instance", "more instances") },
	moreTally: func(checks, failed, warnings, passed int) string {
		return fmt.Sprintf(" (%s: %d failed, %s, %d passed): ", plural(checks, "check", "checks"), failed, plural(warnings, "warning", "warnings"), passed)
	},
	moreTaskInsts: func(n int) string {
		return "…and " + plural(n, "more instance", "more instances") + " of this task (open the console)"
	},
	allPassedOn:     "✅ every check passed on ",
	allPassedOnMore: func(n int) string { return "✅ every check passed on " + plural(n, "more instance", "more instances") },
	noneFinished:    "✅ No precheck finished",
	prechecksDone:   func(n int) string { return plural(n, "precheck", "prechecks") + " finished" },
	noVerdict:       "No task reached a verdict.",
	moreTasks:       func(n int) string { return "…and " + plural(n, "more task", "more tasks") },
	started:         "⏳ Precheck running",
	startedTitle:    "⏳ precheck running",
	startedNote:     "The verdict follows when Security Center reports it.",
	alertHeadline:   "🚨 precheckwatch needs an operator",
	alertNoCause:    "precheckwatch cannot reach its cloud services",
	serviceDenied: func(service, code string) string {
		return service + " refused the function's credentials or permissions (" + code + ")"
	},
	services:          map[Service]string{SecurityCenter: "Security Center", MNS: "MNS"},
	recordUnreachable: "The delivery record (DEDUPE_URL) cannot be reached",
	alertFixes: map[AlertCause]string{
		ServiceDenied:     "Check the function's role: Function Compute may assume it, and its policy grants what `ram-policy.json` lists; then wait for the next sweep.",
		RecordUnreachable: "Check that the Redis server `DEDUPE_URL` names is up and reachable from the function; nothing is posted until it is.",
	},
	alertWaiting: func(n int) string {
		switch {
		case n == 1:
			return "1 task stays queued and is checked again once this is fixed; it is not lost."
		case n > 1:
			return fmt.Sprintf("%d tasks stay queued and are checked again once this is fixed; none is lost.", n)
		default:
			return "Pending tasks stay queued and are checked again once this is fixed; none is lost."
		}
	},
	verdictTitleWord: " precheck · ",

	nextSteps:    "Next steps:",
	checkAgent:   "On the database host, check the backup agent: Linux `ps aux | grep hybrid` (port 8011, log hybridbackup.log), Windows service \"Aliyun hybrid backup service\"; Cloud Assistant running (`systemctl status agentwatch`); outbound 443 to Security Center and OSS open.",
	readFailure:  "Read why it failed: Security Center console → Database Backup → the database → precheck.",
	stillRunning: "Look in the Security Center console whether the precheck still runs (Database Backup → the database → precheck); one normally takes a few minutes.",
	runAgain:     "Run the precheck again and watch it:",

	flagged: "flagged: ",
	andMore: func(n int) string { return fmt.Sprintf("%d more", n) },
}

var zh = phrases{
	lang:   Chinese,
	passed: "通过", warning: "警告", failed: "未通过", errored: "执行出错", timedOut: "超时", unknown: "未知",
	console: "打开云安全中心控制台", openConsole: "在控制台查看",
	errorSummary: func(p int) string { return fmt.Sprintf("预检查本身执行失败，进度停在 %d%%。", p) },
	timedOutSummary: func(p int) string {
		return fmt.Sprintf("截止时间前未得出结果，最后一次看到的进度为 %d%%。", p)
	},
	allPassed: func(checks, instances int) string {
		return fmt.Sprintf("%d 个实例的全部 %d 项检查均已通过。", instances, checks)
	},
	failedN:     func(n int) string { return fmt.Sprintf("%d 项未通过", n) },
	warningsN:   func(n int) string { return fmt.Sprintf("%d 项警告", n) },
	passedN:     func(n int) string { return fmt.Sprintf("%d 项通过", n) },
	onInstances: func(n int) string { return fmt.Sprintf("（共 %d 个实例）", n) },
	reason:      "原因：", detail: "详情（原文）：", listSep: "，", sentenceEnd: "。", sentenceGap: "", labelGap: "",
	causes: map[precheck.Cause]func(o precheck.Outcome) string{
		precheck.CauseFailed: func(precheck.Outcome) string {
			return "云安全中心报告预检查执行失败（`Description=error`）。"
		},
		precheck.CauseUnreadable: func(precheck.Outcome) string {
			return "预检查已完成，但其检查结果（`Result`）无法解析。"
		},
		precheck.CauseNoInstances: func(precheck.Outcome) string { return "预检查已完成，但未报告任何实例。" },
		precheck.CauseUnknownTask: func(o precheck.Outcome) string {
			return fmt.Sprintf("云安全中心在该地域查不到此任务（已持续查询 %s）。", asked(o))
		},
		precheck.CauseRefused: func(precheck.Outcome) string { return "云安全中心拒绝了查询请求。" },
		precheck.CauseStillRunning: func(o precheck.Outcome) string {
			return fmt.Sprintf("已等待 %s，云安全中心仍显示该预检查在运行。", o.Deadline)
		},
		precheck.CauseUnanswered: func(o precheck.Outcome) string {
			return fmt.Sprintf("%s 内云安全中心始终未响应查询。", o.Deadline)
		},
	},
	open: "（", close: "）：", closeParen: "）", colon: "：",
	task: "任务", region: "地域", agent: "备份客户端",
	queries: func(n int) string { return fmt.Sprintf("查询 %d 次", n) },
	waited:  func(d time.Duration) string { return "从首次发现到得出结论用时 " + d.String() },
	decided: "判定于 ", checked: "检查于 ",

	checkTimeMissing: "未报告检查时间", sourceTypeMissing: "未报告数据库类型",
	noCheck: "未报告任何检查项", sameFix: "修复方法同上",
	unknownHint: "请在云安全中心控制台打开该预检查，查看详情。",
	fallback: func(badge, subject, taskID string) string {
		return badge + " 预检查：" + subject + "（任务 " + taskID + "）"
	},
	morePassed:  func(n int) string { return fmt.Sprintf("另有 %d 项检查", n) },
	passedCodes: "：",
	moreChecks: func(n int) string {
		return fmt.Sprintf("……该实例还有 %d 项检查（请在控制台查看）", n)
	},
	moreInstances: func(n int) string { return fmt.Sprintf("……还有 %d 个实例", n) },
	moreTally: func(checks, failed, warnings, passed int) string {
		return fmt.Sprintf("（共 %d 项检查：%d 项未通过，%d 项警告，%d 项通过）：", checks, failed, warnings, passed)
	},
	moreTaskInsts: func(n int) string {
		return fmt.Sprintf("……该任务还有 %d 个实例（请在控制台查看）", n)
	},
	allPassedOn:     "✅ 全部检查通过：",
	allPassedOnMore: func(n int) string { return fmt.Sprintf("✅ 另有 %d 个实例全部检查通过", n) },
	noneFinished:    "✅ 没有完成的预检查",
	prechecksDone:   func(n int) string { return fmt.Sprintf("%d 个预检查已完成", n) },
	noVerdict:       "没有任务得出结论。",
	moreTasks:       func(n int) string { return fmt.Sprintf("……还有 %d 个任务", n) },
	started:         "⏳ 预检查进行中",
	startedTitle:    "⏳ 预检查进行中",
	startedNote:     "云安全中心给出结果后，将在此发送预检查结论。",
	alertHeadline:   "🚨 precheckwatch 需要运维人员处理",
	alertNoCause:    "precheckwatch 无法访问所依赖的云服务",
	serviceDenied: func(service, code string) string {
		return service + "拒绝了函数的访问凭证或权限（" + code + "）"
	},
	services:          map[Service]string{SecurityCenter: "云安全中心", MNS: "消息服务 MNS"},
	recordUnreachable: "无法访问投递记录（DEDUPE_URL）",
	alertFixes: map[AlertCause]string{
		ServiceDenied:     "请检查函数的 RAM 角色：函数计算可以扮演该角色，且其权限策略包含 `ram-policy.json` 所列的权限；修复后等待下一次巡检。",
		RecordUnreachable: "请确认 `DEDUPE_URL` 指向的 Redis 正在运行，且函数可以访问；恢复之前不会发送任何消息。",
	},
	alertWaiting: func(n int) string {
		switch {
		case n > 0:
			return fmt.Sprintf("%d 个任务仍在队列中，问题修复后会重新检查，不会丢失。", n)
		default:
			return "待处理的任务仍在队列中，问题修复后会重新检查，不会丢失。"
		}
	},
	verdictTitleWord: " · 预检查 · ",

	nextSteps:    "下一步：",
	checkAgent:   "在数据库主机上检查备份客户端：Linux 执行 `ps aux | grep hybrid`（端口 8011，日志 hybridbackup.log），Windows 检查服务“Aliyun hybrid backup service”；确认云助手在运行（`systemctl status agentwatch`），且主机可访问云安全中心和 OSS 的 443 端口。",
	readFailure:  "查看失败原因：云安全中心控制台 → 数据库备份 → 该数据库 → 预检查。",
	stillRunning: "在云安全中心控制台查看该预检查是否仍在运行（数据库备份 → 该数据库 → 预检查）；预检查通常几分钟内完成。",
	runAgain:     "重新发起预检查并继续跟踪：",

	flagged: "被标记的数据库：",
	andMore: func(n int) string { return fmt.Sprintf("另有 %d 个", n) },
}
