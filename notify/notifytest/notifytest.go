// Package notifytest holds what every channel's rendering tests share: the
// fixtures of their golden files, the golden-file check, and the
// conformance tests every Renderer must pass whatever its markup.
package notifytest

import (
	"bytes"
	"flag"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"precheckwatch/notify"
	"precheckwatch/notify/sample"
	"precheckwatch/precheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Golden compares got with testdata/name, or rewrites it under -update.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering; run with -update if the change is intended.\n--- got ---\n%s", path, got)
	}
}

// Mixed is every fixture small enough to show in full.
func Mixed(t testing.TB) []notify.Finished { return sample.Small(Fixtures(t)) }

// GoldenMessages renders every golden message with r and passes each, by
// its golden name, to write.
func GoldenMessages(t *testing.T, r notify.Renderer, write func(t *testing.T, name string, m notify.Message)) {
	for _, f := range Fixtures(t) {
		t.Run(f.Name, func(t *testing.T) { write(t, f.Name, checked(t, r.Verdict(f.Task, f.Outcome))) })
	}
	t.Run("digest", func(t *testing.T) {
		pages := r.Digest(Mixed(t))
		if len(pages) != 1 {
			t.Fatalf("%d digest pages for %d small tasks", len(pages), len(Mixed(t)))
		}
		write(t, "digest-mixed", checked(t, pages[0].Message))
	})
	t.Run("summary", func(t *testing.T) {
		first, second := FleetRuns(t)
		write(t, "summary-first-run", checked(t, r.Summary(first)))
		write(t, "summary-changes", checked(t, r.Summary(second)))
		write(t, "summary-500", checked(t, r.Summary(LargeFleet(t, 500))))
	})
	t.Run("started", func(t *testing.T) { write(t, "started", checked(t, r.Started(sample.StartedTask))) })
	t.Run("operator-alert", func(t *testing.T) { write(t, "operator-alert", checked(t, r.OperatorAlert(sample.OperatorAlert))) })
}

func checked(t *testing.T, m notify.Message) notify.Message {
	t.Helper()
	if err := m.Content.Check(); err != nil {
		t.Errorf("limits: %v", err)
	}
	return m
}

// Decided is sample.Decided, failing t on an error.
func Decided(t testing.TB, task precheck.Task, s precheck.Status, now time.Time, attempts int) notify.Finished {
	t.Helper()
	f, err := sample.Decided(task, s, now, attempts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Completed is sample.Completed, failing t on an error.
func Completed(t testing.TB, task precheck.Task, result string) notify.Finished {
	t.Helper()
	f, err := sample.Completed(task, result)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Hostile is a finished task whose id, instance, source and check result
// carry markup and code spans, labelled label: a renderer must show all of
// it as text. Each channel passes a label with its own markup.
func Hostile(t testing.TB, label string) notify.Finished {
	t.Helper()
	task := precheck.Task{TaskID: "t-<b>x</b>", UniRegionID: "cn-hangzhou", Label: label}
	return Completed(t, task, "["+sample.InstanceJSON("i-`tick`<img>", "<b>MYSQL</b>", 1795744800, "MYSQL_BINLOG", "<i>OFF</i> & more")+"]")
}

// Fixtures are sample.Verdicts, failing t on an error.
func Fixtures(t testing.TB) []sample.Verdict {
	t.Helper()
	vs, err := sample.Verdicts()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// englishWords are words of the English phrases; none may show in a
// Chinese message outside the user's data and the system's own words in
// code spans.
var englishWords = []string{"instance", "passed", "failed", "warning", "Reason", "task ", "region ", "agent ", "quer",
	"decided", "checked", "same fix", "more ", "Open the", "console", "recheck", "queued", "operator", "verdict",
	"refused", "cannot", "detail", "reason", "deadline", "answer", "ready", "database", "since the last", "removed", "new ", "run "}

var codeSpan = regexp.MustCompile("`[^`]*`")

// Chinese checks that every golden message r renders, and a verdict of
// every cause, says nothing in English: what is left once code spans,
// links and the fixtures' own data are taken out holds none of the
// English phrases' words. A cause's own data shows verbatim.
func Chinese(t *testing.T, r notify.Renderer) {
	english := func(t *testing.T, name string, m notify.Message) {
		t.Helper()
		text := codeSpan.ReplaceAllString(m.Content.Plain(), "")
		for _, data := range []string{"precheckwatch", "https://yundun.console.aliyun.com/?p=sas"} {
			text = strings.ReplaceAll(text, data, "")
		}
		for _, w := range englishWords {
			if strings.Contains(strings.ToLower(text), strings.ToLower(w)) {
				t.Errorf("%s says %q in English:\n%s", name, w, text)
			}
		}
	}
	GoldenMessages(t, r, english)
	task := precheck.Task{TaskID: "t-000bc9nqwxsbyvod0009", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL"}
	for _, a := range CauseAlerts {
		t.Run(fmt.Sprintf("alert %d %s", a.Cause, a.Service), func(t *testing.T) {
			m := checked(t, r.OperatorAlert(a))
			english(t, "alert", m)
			if plain := html.UnescapeString(m.Content.Plain()); !strings.Contains(plain, "详情（原文）") || !strings.Contains(plain, a.Detail) {
				t.Errorf("the alert's detail %q is missing:\n%s", a.Detail, m.Content.Plain())
			}
		})
	}
	for _, o := range CauseOutcomes {
		t.Run(string(o.Cause), func(t *testing.T) {
			m := checked(t, r.Verdict(task, o))
			english(t, string(o.Cause), m)
			// The channel's markup escapes what it must; the reader sees
			// the detail as it was.
			if plain := html.UnescapeString(m.Content.Plain()); !strings.Contains(plain, "原因") || !strings.Contains(plain, o.Detail) {
				t.Errorf("the cause or its detail %q is missing:\n%s", o.Detail, m.Content.Plain())
			}
		})
	}
}

// CauseAlerts are operator alerts of every cause the handler raises.
var CauseAlerts = []notify.Alert{
	sample.OperatorAlert,
	{Cause: notify.ServiceDenied, Service: notify.MNS, Code: "AccessDenied", Detail: "mns receive: AccessDenied: The OwnerId that your Access Key Id associated to is forbidden", Affected: 1},
	{Cause: notify.RecordUnreachable, Detail: "dial tcp 10.0.0.5:6379: connect: connection refused"},
}

// CauseOutcomes are verdicts of every cause the domain decides, with the
// data each carries.
var CauseOutcomes = []precheck.Outcome{
	{Verdict: precheck.Error, Cause: precheck.CauseFailed, Progress: 40},
	{Verdict: precheck.Error, Cause: precheck.CauseUnreadable, Detail: "invalid character '<' looking for beginning of value", Progress: 100},
	{Verdict: precheck.Failed, Cause: precheck.CauseNoInstances, Progress: 100},
	{Verdict: precheck.Error, Cause: precheck.CauseUnknownTask, FirstSeen: sample.FirstSeen.UnixMilli(), DecidedAt: sample.FirstSeen.Add(10 * time.Minute).UnixMilli()},
	{Verdict: precheck.Error, Cause: precheck.CauseRefused, Detail: "sas QueryPreCheckDatabase: permanent: InvalidRegionId (HTTP 400)"},
	{Verdict: precheck.TimedOut, Cause: precheck.CauseStillRunning, Deadline: 2 * time.Hour, Progress: 60},
	{Verdict: precheck.TimedOut, Cause: precheck.CauseUnanswered, Detail: "Throttling.User", Deadline: 2 * time.Hour},
}
