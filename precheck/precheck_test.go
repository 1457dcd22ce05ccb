package precheck

import (
	"encoding/base64"
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
		{"progress out of range", `{"taskId":"t","uniRegionId":"x","lastProgress":101}`, "", "out-of-range"},
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
	in := Task{TaskID: "t-1", UniRegionID: "cn-hangzhou", Attempt: 2, FirstSeen: 1700000000000,
		Final:     &Outcome{Verdict: Warning, Instances: []Instance{{InstanceID: "i-1", Items: []Item{NewItem("MYSQL_BINLOG", "WARNING")}}}},
		Delivered: []string{"slack"}, Started: map[string]string{"slack": "1700000000.000100"}}
	body, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseTask(body)
	if err != nil {
		t.Fatal(err)
	}
	if out.Final == nil || out.Final.Verdict != Warning || out.Final.Instances[0].Items[0].Hint == "" ||
		!out.IsDelivered("slack") || out.IsDelivered("dingtalk") || out.Started["slack"] != "1700000000.000100" {
		t.Fatalf("round trip lost data: %+v", out)
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
		if !ok || e.Name == "" || e.Hint == "" || e.Impact == "" {
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
	p := Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	fresh := Task{TaskID: "t-1", UniRegionID: "cn-hangzhou"}
	old := fresh
	old.FirstSeen = now.Add(-2 * time.Hour).UnixMilli()
	old.Attempt = 40
	nearly := fresh
	nearly.FirstSeen = now.Add(-2*time.Hour + 10*time.Second).UnixMilli()
	nearly.Attempt = 20

	tests := []struct {
		name      string
		task      Task
		status    Status
		action    Action
		verdict   Verdict
		delay     time.Duration
		reasonHas string
	}{
		{"created, first sight", fresh, Status{Progress: 0, Description: DescCreated}, Requeue, "", 15 * time.Second, ""},
		{"running, under 100", fresh, Status{Progress: 60, Description: DescCreated, Result: "[]"}, Requeue, "", 15 * time.Second, ""},
		{"completed but under 100 waits", fresh, Status{Progress: 90, Description: DescCompleted}, Requeue, "", 15 * time.Second, ""},
		{"unknown description waits", fresh, Status{Progress: 100, Description: "running"}, Requeue, "", 15 * time.Second, ""},
		{"completed with warning", fresh, Status{Progress: 100, Description: DescCompleted, Result: docResult}, Finish, Warning, 0, ""},
		{"completed without instances", fresh, Status{Progress: 100, Description: DescCompleted, Result: "[]"}, Finish, Failed, 0, "without reporting"},
		{"completed with garbage", fresh, Status{Progress: 100, Description: DescCompleted, Result: "<html>"}, Finish, Error, 0, "unreadable"},
		{"error", fresh, Status{Progress: 40, Description: DescError}, Finish, Error, 0, "Description=error"},
		{"error wins over deadline", old, Status{Progress: 40, Description: DescError}, Finish, Error, 0, ""},
		{"past deadline", old, Status{Progress: 70, Description: DescCreated}, Finish, TimedOut, 0, "no verdict within 2h0m0s"},
		{"completed past deadline still counts", old, Status{Progress: 100, Description: DescCompleted, Result: docResult}, Finish, Warning, 0, ""},
		{"delay clamped to the deadline", nearly, Status{Progress: 70, Description: DescCreated}, Requeue, "", 10 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.task, tt.status, now, p, 0)
			if d.Action != tt.action {
				t.Fatalf("action = %s, want %s", d.Action, tt.action)
			}
			if d.Task.Attempt != tt.task.Attempt+1 {
				t.Fatalf("attempt = %d, want %d", d.Task.Attempt, tt.task.Attempt+1)
			}
			if d.Task.FirstSeen == 0 {
				t.Fatal("first seen not recorded")
			}
			if tt.action == Requeue {
				if d.Delay != tt.delay || d.Task.Final != nil {
					t.Fatalf("delay = %s final = %v, want %s and no final", d.Delay, d.Task.Final, tt.delay)
				}
				return
			}
			f := d.Task.Final
			if f == nil || f.Verdict != tt.verdict {
				t.Fatalf("final = %+v, want verdict %s", f, tt.verdict)
			}
			if !strings.Contains(f.Reason, tt.reasonHas) {
				t.Fatalf("reason %q lacks %q", f.Reason, tt.reasonHas)
			}
			if f.Progress != tt.status.Progress || f.Attempts != d.Task.Attempt || f.DecidedAt != now.UnixMilli() {
				t.Fatalf("bookkeeping: %+v", f)
			}
		})
	}
}

func TestUnanswered(t *testing.T) {
	p := Policy{BackoffInitial: time.Second, BackoffMax: time.Minute, Deadline: time.Hour}
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	task := Task{TaskID: "t-1", UniRegionID: "cn-hangzhou", Attempt: 3, LastProgress: 55, FirstSeen: now.Add(-time.Minute).UnixMilli()}
	d := Unanswered(task, "Throttling.User", now, p, 0.999999)
	if d.Action != Requeue || d.Delay < 7*time.Second || d.Delay > 8*time.Second || d.Task.Attempt != 4 {
		t.Fatalf("unanswered early = %+v", d)
	}
	task.FirstSeen = now.Add(-time.Hour).UnixMilli()
	d = Unanswered(task, "Throttling.User", now, p, 0)
	if d.Action != Finish || d.Task.Final.Verdict != TimedOut || d.Task.Final.Progress != 55 || !strings.Contains(d.Task.Final.Reason, "Throttling.User") {
		t.Fatalf("unanswered past deadline = %+v", d.Task.Final)
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
