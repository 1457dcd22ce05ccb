package precheck

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
)

const docResult = `[{"instanceId":"i-wz91if83t97xgtn2****","checkTime":1671245753,"sourceType":"MSSQL","results":[{"item":"OSS_INTERNAL_ENDPOINT_CONNECTIVITY","result":"PASSED"},{"item":"SERVICE_CONNECTIVITY","result":"PASSED"},{"item":"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE","result":"WARNING"},{"item":"SQL_SERVER_DB_NOT_ONLINE","result":"PASSED"}]}]`

func TestParseTask(t *testing.T) {
	plain := `{"taskId":"t-1","uniRegionId":"cn-hangzhou","instanceUuid":"u-1","databaseType":"MYSQL","label":"orders-db prod","someoneElses":{"x":1}}`
	tests := []struct {
		name    string
		body    string
		wantID  string
		wantErr string
	}{
		{"plain JSON with an unknown field", plain, "t-1", ""},
		{"base64 JSON", base64.StdEncoding.EncodeToString([]byte(plain)), "t-1", ""},
		{"surrounding white space", "\n " + plain + " \n", "t-1", ""},
		{"function bookkeeping", `{"taskId":"t-2","uniRegionId":"cn-shanghai","attempt":3,"firstSeen":1700000000000,"delivered":["slack"]}`, "t-2", ""},
		{"empty", "", "", "empty"},
		{"missing taskId", `{"uniRegionId":"cn-hangzhou"}`, "", "missing taskId"},
		{"missing both", `{}`, "", "missing taskId and uniRegionId"},
		{"array", `[1,2]`, "", "neither a JSON object nor base64"},
		{"not JSON", `hello world`, "", "neither a JSON object nor base64"},
		{"wrong type", `{"taskId":7,"uniRegionId":"x"}`, "", "not a valid task"},
		{"truncated", `{"taskId":"t-1",`, "", "not a valid task"},
		{"invalid UTF-8", "{\"taskId\":\"t-\xff\",\"uniRegionId\":\"x\"}", "", "UTF-8"},
		{"negative attempt", `{"taskId":"t","uniRegionId":"x","attempt":-1}`, "", "negative attempt"},
		{"too large", `{"taskId":"` + strings.Repeat("a", MaxBodyBytes) + `","uniRegionId":"x"}`, "", "over the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := ParseTask([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTask error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTask: %v", err)
			}
			if task.TaskID != tt.wantID {
				t.Fatalf("TaskID = %q, want %q", task.TaskID, tt.wantID)
			}
		})
	}
}

func TestTaskRoundTrip(t *testing.T) {
	in := Task{TaskID: "t-1", UniRegionID: "cn-hangzhou", InstanceUUID: "u-1", DatabaseType: "MYSQL", Label: "orders", Attempt: 2}
	body, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseTask(body)
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip = %+v, want %+v", out, in)
	}
}

// TestForgedBookkeepingIsData: what older versions kept in a body, or a
// forger writes there, is an unknown field like any other.
func TestForgedBookkeepingIsData(t *testing.T) {
	body := `{"taskId":"t-1","uniRegionId":"cn-hangzhou","firstSeen":1,"lastProgress":100,` +
		`"final":{"verdict":"PASSED"},"delivered":["slack","dingtalk"],"started":{"slack":"C1 1.2"}}`
	task, err := ParseTask([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := task.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"taskId":"t-1","uniRegionId":"cn-hangzhou"}`; string(enc) != want {
		t.Fatalf("requeued body = %s, want only the producer's fields %s", enc, want)
	}
}

func TestParseResult(t *testing.T) {
	tests := []struct {
		name      string
		result    string
		instances int
		verdict   Verdict
		wantErr   bool
	}{
		{"documented example", docResult, 1, Warning, false},
		{"empty string", "", 0, Failed, false},
		{"empty array", "[]", 0, Failed, false},
		{"null", "null", 0, Failed, false},
		{"all passed", `[{"instanceId":"i-1","checkTime":1671245753,"sourceType":"MYSQL","results":[{"item":"MYSQL_BINLOG","result":"PASSED"},{"item":"MYSQL_VERSION","result":"passed"}]}]`, 1, Passed, false},
		{"unknown result value fails", `[{"instanceId":"i-1","sourceType":"ORACLE","results":[{"item":"ARCHIVELOG","result":"NOT_ARCHIVELOG"}]}]`, 1, Failed, false},
		{"unknown item keeps its code", `[{"instanceId":"i-1","sourceType":"ORACLE","results":[{"item":"NEW_CHECK","result":"PASSED"}]}]`, 1, Passed, false},
		{"two instances, worst wins", `[{"instanceId":"i-1","results":[{"item":"A","result":"PASSED"}]},{"instanceId":"i-2","results":[{"item":"B","result":"WARNING"}]}]`, 2, Warning, false},
		{"check time in ms", `[{"instanceId":"i-1","checkTime":1671245753000,"results":[{"item":"A","result":"PASSED"}]}]`, 1, Passed, false},
		{"garbage", `{"oops":`, 0, "", true},
		{"object, not array", `{"instanceId":"i-1"}`, 0, "", true},
		{"trailing data", `[] []`, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResult(tt.result)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseResult(%q) = %+v, want an error", tt.result, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.instances {
				t.Fatalf("instances = %d, want %d", len(got), tt.instances)
			}
			if v := verdictOf(got); v != tt.verdict {
				t.Fatalf("verdict = %s, want %s", v, tt.verdict)
			}
		})
	}
}

func TestParseResultItems(t *testing.T) {
	got, err := ParseResult(docResult)
	if err != nil {
		t.Fatal(err)
	}
	in := got[0]
	if in.InstanceID != "i-wz91if83t97xgtn2****" || in.SourceType != "MSSQL" || !in.CheckTime.Equal(time.Unix(1671245753, 0)) {
		t.Fatalf("instance = %+v", in)
	}
	first := in.Items[0]
	if first.Code != "SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE" || first.Level != Warn || first.Raw != "WARNING" ||
		first.Name != "SQL Server recovery mode" || !strings.Contains(first.Hint, "SET RECOVERY FULL") {
		t.Fatalf("worst item should come first with name and hint: %+v", first)
	}
	for _, it := range in.Items[1:] {
		if it.Level != Pass || it.Hint != "" {
			t.Fatalf("passed item %+v should have no hint", it)
		}
	}
	unknown := NewItem("BRAND_NEW", "MAYBE")
	if unknown.Level != Fail || unknown.Name != "BRAND_NEW" || unknown.Raw != "MAYBE" || unknown.Hint == "" {
		t.Fatalf("unknown item = %+v", unknown)
	}
}

func TestCatalogueIsComplete(t *testing.T) {
	documented := []string{"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "SERVICE_CONNECTIVITY",
		"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "SQL_SERVER_DB_NOT_ONLINE",
		"ORACLE_INSTANCE_STATUS", "ORACLE_DB_STATUS", "ARCHIVELOG", "MYSQL_VERSION", "MYSQL_BINLOG"}
	for _, code := range documented {
		e, ok := Catalogue[code]
		if !ok || e.Name == "" || e.Hint == "" || e.Impact == "" || e.NameZh == "" || e.HintZh == "" {
			t.Errorf("catalogue entry for %s is missing or incomplete: %+v", code, e)
		}
	}
	if len(Catalogue) != len(documented) {
		t.Errorf("catalogue has %d entries, documentation lists %d", len(Catalogue), len(documented))
	}
}

func TestBackoff(t *testing.T) {
	p := Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0.99, 15 * time.Second},
		{2, 0, 15 * time.Second},
		{2, 0.5, 22500 * time.Millisecond},
		{3, 0.999999, 60 * time.Second},
		{5, 0.5, 15*time.Second + (240*time.Second-15*time.Second)/2},
		{7, 0.999999, 5 * time.Minute},
		{60, 0.999999, 5 * time.Minute},
	}
	for _, tt := range tests {
		got := Backoff(tt.attempt, p, tt.jitter)
		if diff := got - tt.want; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("Backoff(%d, jitter %.2f) = %s, want %s", tt.attempt, tt.jitter, got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	p := Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour, UnknownGrace: 10 * time.Minute}
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	task := Task{TaskID: "t-1", UniRegionID: "cn-hangzhou", Attempt: 4}
	fresh, old := now, now.Add(-2*time.Hour)
	nearly := now.Add(-2*time.Hour + 10*time.Second)
	answer := func(progress int, desc, result string) Reply {
		return Reply{Kind: Answered, Status: Status{Progress: progress, Description: desc, Result: result}}
	}
	sealed := &Outcome{Verdict: Failed, Detail: "sealed earlier"}

	tests := []struct {
		name      string
		firstSeen time.Time
		sealed    *Outcome
		reply     Reply
		requeued  int
		delivery  *Delivery
		action    Action
		verdict   Verdict // of the outcome, for Deliver, Redeliver and Done
		delay     time.Duration
		// reasonHas is in the log reason of a fate without a new verdict,
		// or in the Detail of a new verdict, whose cause is cause.
		reasonHas string
		cause     Cause
		retired   bool
	}{
		{"running, first sight", fresh, nil, answer(0, DescCreated, ""), 0, nil, Requeue, "", 15 * time.Second, "no verdict", "", false},
		{"running, under 100", fresh, nil, answer(60, DescCreated, "[]"), 0, nil, Requeue, "", 15 * time.Second, "", "", false},
		{"completed but under 100 waits", fresh, nil, answer(90, DescCompleted, ""), 0, nil, Requeue, "", 15 * time.Second, "", "", false},
		{"a description never seen waits", fresh, nil, answer(100, "running", ""), 0, nil, Requeue, "", 15 * time.Second, "", "", false},
		{"finished with a warning", fresh, nil, answer(100, DescCompleted, docResult), 0, nil, Deliver, Warning, 0, "", "", false},
		{"finished without instances", fresh, nil, answer(100, DescCompleted, "[]"), 0, nil, Deliver, Failed, 0, "", CauseNoInstances, false},
		{"finished with an unreadable Result", fresh, nil, answer(100, DescCompleted, "<html>"), 0, nil, Deliver, Error, 0, "invalid character '<'", CauseUnreadable, false},
		{"precheck failed", fresh, nil, answer(40, DescError, ""), 0, nil, Deliver, Error, 0, "", CauseFailed, false},
		{"precheck failed past the deadline", old, nil, answer(40, DescError, ""), 0, nil, Deliver, Error, 0, "", CauseFailed, false},
		{"past the deadline", old, nil, answer(70, DescCreated, ""), 0, nil, Deliver, TimedOut, 0, "", CauseStillRunning, false},
		{"finished past the deadline still counts", old, nil, answer(100, DescCompleted, docResult), 0, nil, Deliver, Warning, 0, "", "", false},
		{"delay clamped to the deadline", nearly, nil, answer(70, DescCreated, ""), 0, nil, Requeue, "", 10 * time.Second, "", "", false},
		{"unanswered waits", fresh, nil, Reply{Kind: Unanswered, Reason: "Throttling.User"}, 0, nil, Requeue, "", 15 * time.Second, "Throttling.User", "", false},
		{"unanswered past the deadline", old, nil, Reply{Kind: Unanswered, Reason: "Throttling.User"}, 0, nil, Deliver, TimedOut, 0, "Throttling.User", CauseUnanswered, false},
		{"refused", fresh, nil, Reply{Kind: Refused, Reason: "InvalidRegionId"}, 0, nil, Deliver, Error, 0, "InvalidRegionId", CauseRefused, false},
		{"credentials denied holds", old, nil, Reply{Kind: Denied, Reason: "Forbidden.RAM"}, 0, nil, Hold, "", 5 * time.Minute, "Forbidden.RAM", "", false},
		{"not asked holds", old, nil, Reply{Kind: NotAsked, Reason: "out of time"}, 0, nil, Hold, "", 0, "out of time", "", false},
		{"unknown to Security Center waits", fresh, nil, answer(0, "", ""), 0, nil, Requeue, "", 15 * time.Second, "knows no such task", "", false},
		{"unknown, delay clamped to the grace", now.Add(-10*time.Minute + 3*time.Second), nil, answer(0, "", ""), 0, nil, Requeue, "", 3 * time.Second, "", "", false},
		{"unknown past the grace", now.Add(-10 * time.Minute), nil, answer(0, "", ""), 0, nil, Deliver, Error, 0, "", CauseUnknownTask, false},
		{"redelivered: the sealed verdict, not a new one", fresh, sealed, answer(100, DescCompleted, docResult), 0, nil, Deliver, Failed, 0, "sealed earlier", "", false},
		{"redelivered past the deadline keeps its verdict", old, sealed, Reply{}, 0, nil, Deliver, Failed, 0, "", "", false},
		{"delivered on every channel", fresh, sealed, Reply{}, 0, &Delivery{}, Done, Failed, 0, "", "", false},
		{"delivered on some channels only", fresh, sealed, Reply{}, 0, &Delivery{Missing: []string{"dingtalk"}}, Redeliver, Failed, 15 * time.Second, "1 channels", "", false},
		{"a stale copy of a requeued message goes", fresh, nil, Reply{}, 5, nil, Done, "", 0, "newer message", "", false},
		{"a stale copy of a finished task goes", fresh, sealed, Reply{}, 5, nil, Done, "", 0, "newer message", "", false},
		{"a retired task's message goes unasked", fresh, nil, answer(100, DescCompleted, docResult), 0, nil, Done, "", 0, "every channel", "", true},
		{"a retired task's stale copy goes", old, nil, Reply{}, 5, nil, Done, "", 0, "every channel", "", true},
		{"the newest message is checked", fresh, nil, answer(0, DescCreated, ""), 4, nil, Requeue, "", 15 * time.Second, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Decide(Facts{Task: task, FirstSeen: tt.firstSeen, Sealed: tt.sealed, Retired: tt.retired, Reply: tt.reply, Requeued: tt.requeued, Delivery: tt.delivery, Now: now}, p)
			if f.Action != tt.action {
				t.Fatalf("action = %s, want %s", f.Action, tt.action)
			}
			if f.Delay != tt.delay {
				t.Fatalf("delay = %s, want %s", f.Delay, tt.delay)
			}
			if f.Task.TaskID != task.TaskID {
				t.Fatalf("task = %+v", f.Task)
			}
			reason := f.Reason
			switch tt.action {
			case Requeue, Hold:
				if f.Outcome != nil {
					t.Fatalf("outcome %+v for %s", f.Outcome, tt.action)
				}
			case Done:
				if (f.Outcome == nil) != (tt.verdict == "") || f.Outcome != nil && f.Outcome.Verdict != tt.verdict {
					t.Fatalf("outcome = %+v, want verdict %q", f.Outcome, tt.verdict)
				}
			default:
				if f.Outcome == nil || f.Outcome.Verdict != tt.verdict {
					t.Fatalf("outcome = %+v, want verdict %s", f.Outcome, tt.verdict)
				}
				if tt.action == Deliver {
					reason = f.Outcome.Detail
				}
				if f.Outcome.Cause != tt.cause {
					t.Fatalf("cause = %q, want %q", f.Outcome.Cause, tt.cause)
				}
			}
			if !strings.Contains(reason, tt.reasonHas) {
				t.Fatalf("reason %q lacks %q", reason, tt.reasonHas)
			}
			if tt.action == Deliver && tt.sealed == nil {
				o := f.Outcome
				if want := map[Verdict]time.Duration{TimedOut: p.Deadline}[o.Verdict]; o.Deadline != want {
					t.Fatalf("deadline = %s, want %s", o.Deadline, want)
				}
				if o.Progress != tt.reply.Status.Progress || o.Attempts != task.Attempt+1 || f.Task.Attempt != task.Attempt+1 ||
					o.DecidedAt != now.UnixMilli() || o.FirstSeen != tt.firstSeen.UnixMilli() {
					t.Fatalf("bookkeeping: %+v, task %+v", o, f.Task)
				}
			}
		})
	}
}

func FuzzParseTask(f *testing.F) {
	f.Add([]byte(`{"taskId":"t-1","uniRegionId":"cn-hangzhou"}`))
	f.Add([]byte(base64.StdEncoding.EncodeToString([]byte(`{"taskId":"t","uniRegionId":"r","final":{"verdict":"PASSED"}}`))))
	f.Add([]byte(`{"taskId":"t","uniRegionId":"r","started":{"slack":"1.2"},"attempt":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := ParseTask(body)
		if err != nil {
			return
		}
		if task.Validate() != nil {
			t.Fatalf("ParseTask accepted an invalid task %+v", task)
		}
		enc, err := task.Encode()
		if err != nil {
			t.Fatalf("a parsed task does not encode: %v", err)
		}
		if _, err := ParseTask(enc); err != nil {
			t.Fatalf("an encoded task does not parse back: %v", err)
		}
	})
}

func FuzzParseResult(f *testing.F) {
	f.Add(docResult)
	f.Add("[]")
	f.Add(`[{"instanceId":1,"checkTime":"x","results":null}]`)
	f.Add(`[{"checkTime":1e300,"results":[{"item":"","result":""}]}]`)
	f.Fuzz(func(t *testing.T, result string) {
		instances, err := ParseResult(result)
		if err != nil {
			return
		}
		for _, in := range instances {
			for i := 1; i < len(in.Items); i++ {
				if in.Items[i].Level > in.Items[i-1].Level {
					t.Fatalf("items not worst first: %+v", in.Items)
				}
			}
		}
		if v := verdictOf(instances); v != Passed && v != Warning && v != Failed {
			t.Fatalf("verdictOf gave %q", v)
		}
	})
}

// A Result that names the databases an item flags has them kept, under
// whichever field name says so; a field that holds no names is ignored,
// and an item or result that is not a string is still unreadable.
func TestParseResultFlaggedDatabases(t *testing.T) {
	item := func(fields string) string {
		return `[{"instanceId":"i-1","sourceType":"MSSQL","results":[{"item":"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE","result":"WARNING"` + fields + `}]}]`
	}
	cases := []struct {
		name   string
		fields string
		want   []string
		bad    bool
	}{
		{name: "none", fields: ``},
		{name: "a list", fields: `,"databases":["sales","hr"]`, want: []string{"hr", "sales"}},
		{name: "a comma string", fields: `,"dbNames":"sales, hr"`, want: []string{"hr", "sales"}},
		{name: "two fields, one name twice", fields: `,"DBList":["hr"],"database":"hr"`, want: []string{"hr"}},
		{name: "a count is no name", fields: `,"dbCount":3`},
		{name: "other fields ignored", fields: `,"detail":["sales"]`},
		{name: "a numeric result", fields: `,"Result":3`, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := ParseResult(item(tc.fields))
			if tc.bad {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ins[0].Items[0].Databases; !slices.Equal(got, tc.want) {
				t.Errorf("databases %q, want %q", got, tc.want)
			}
		})
	}
}
