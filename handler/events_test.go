package handler

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"precheckwatch/fleet"
	"precheckwatch/precheck"
)

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The checked-in samples decode as their trigger, and agree with the FC
// SDK's own event types.
func TestSampleEvents(t *testing.T) {
	t.Run("timer", func(t *testing.T) {
		raw := readSample(t, "timer.json")
		ev, err := DecodeEvent(raw)
		if err != nil || ev.Trigger != TimerTrigger || ev.Sweep.MaxTasks != 500 {
			t.Fatalf("DecodeEvent = %+v, %v", ev, err)
		}
		var sdk events.TimerEvent
		if err := json.Unmarshal(raw, &sdk); err != nil || *sdk.TriggerName != "sweep" {
			t.Fatalf("SDK TimerEvent: %v", err)
		}
	})
	t.Run("fleet timer", func(t *testing.T) {
		raw := readSample(t, "fleet-timer.json")
		ev, err := DecodeEvent(raw)
		want := fleet.Request{Spec: fleet.Spec{Regions: []string{"cn-hangzhou"}, Types: []string{"MSSQL", "MYSQL"}}, Scheduled: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)}
		if err != nil || ev.Trigger != FleetTrigger || !reflect.DeepEqual(ev.Fleet, want) {
			t.Fatalf("DecodeEvent = %+v, %v; want fleet %+v", ev, err, want)
		}
		var sdk events.TimerEvent
		if err := json.Unmarshal(raw, &sdk); err != nil || *sdk.TriggerName != "fleet-weekly" {
			t.Fatalf("SDK TimerEvent: %v", err)
		}
	})
	t.Run("EventBridge array", func(t *testing.T) {
		raw := readSample(t, "mns-eventbridge.json")
		ev, err := DecodeEvent(raw)
		if err != nil || ev.Trigger != MNSTrigger || len(ev.Messages) != 2 {
			t.Fatalf("DecodeEvent = %+v, %v", ev, err)
		}
		var sdk []events.MnsQueueEvent
		if err := json.Unmarshal(raw, &sdk); err != nil || len(sdk) != 2 {
			t.Fatalf("SDK MnsQueueEvent array: %v", err)
		}
		for i, m := range ev.Messages {
			if m.Problem != "" || m.ID != *sdk[i].Data.MessageID || string(m.Body) != *sdk[i].Data.MessageBody {
				t.Fatalf("message %d = %+v", i, m)
			}
			if _, err := precheck.ParseTask(m.Body); err != nil {
				t.Fatalf("message %d body: %v", i, err)
			}
		}
	})
	t.Run("FC 2.0 CloudEvent", func(t *testing.T) {
		raw := readSample(t, "mns-cloudevent.json")
		ev, err := DecodeEvent(raw)
		if err != nil || ev.Trigger != MNSTrigger || len(ev.Messages) != 1 {
			t.Fatalf("DecodeEvent = %+v, %v", ev, err)
		}
		var sdk events.MnsQueueEvent
		if err := json.Unmarshal(raw, &sdk); err != nil || ev.Messages[0].ID != *sdk.Data.MessageID {
			t.Fatalf("SDK MnsQueueEvent: %v", err)
		}
	})
	t.Run("bare task", func(t *testing.T) {
		ev, err := DecodeEvent(readSample(t, "task.json"))
		if err != nil || ev.Trigger != TaskTrigger {
			t.Fatalf("DecodeEvent = %+v, %v", ev, err)
		}
		if task, err := precheck.ParseTask(ev.Task); err != nil || task.Label != "inventory-db staging" {
			t.Fatalf("task: %+v %v", task, err)
		}
	})
}

// data.messageBody as EventBridge may hand it over: a string, the JSON
// object or array EventBridge parsed out of a JSON body, or base64 of the
// JSON text. Each sample in events/ holds one shape of the same task; every
// shape decodes to it, and the task survives its own encoding.
func TestMessageBodyShapes(t *testing.T) {
	want, err := precheck.ParseTask([]byte(`{"taskId":"t-000bc9nqwxsbyvod0001","uniRegionId":"cn-hangzhou","instanceUuid":"ebc895506c6911ed800000163e0e0001","databaseType":"MYSQL","label":"orders-db prod"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, sample := range []string{"mns-eventbridge.json", "mns-eventbridge-object-body.json", "mns-eventbridge-base64-body.json"} {
		t.Run(sample, func(t *testing.T) {
			ev, err := DecodeEvent(readSample(t, sample))
			if err != nil || ev.Trigger != MNSTrigger || len(ev.Messages) == 0 || ev.Messages[0].Problem != "" {
				t.Fatalf("DecodeEvent = %+v, %v", ev, err)
			}
			got, err := precheck.ParseTask(ev.Messages[0].Body)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("its first message is %+v (%v), want %+v", got, err, want)
			}
			encoded, err := got.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if again, err := precheck.ParseTask(encoded); err != nil || !reflect.DeepEqual(again, want) {
				t.Fatalf("round trip: %+v (%v)", again, err)
			}
		})
	}

	event := func(body string) string {
		return `[{"id":"e","specversion":"1.0","type":"mns:Queue:SendMessage","data":{"messageId":"m","messageBody":` + body + `}}]`
	}
	for _, tc := range []struct {
		name, body string
		want       string // the message body the task parser is given
	}{
		{"string", `"{\"taskId\":\"t-1\",\"uniRegionId\":\"r\"}"`, `{"taskId":"t-1","uniRegionId":"r"}`},
		{"object", `{"taskId":"t-1","uniRegionId":"r"}`, `{"taskId":"t-1","uniRegionId":"r"}`},
		{"object with blanks", ` { "taskId" : "t-1", "uniRegionId" : "r" } `, `{ "taskId" : "t-1", "uniRegionId" : "r" }`},
		{"array, as its string would be", `[1, "two"]`, `[1, "two"]`},
		{"string of an array", `"[1, \"two\"]"`, `[1, "two"]`},
		{"number", `42`, `42`},
		{"base64 string", `"eyJ0YXNrSWQiOiJ0LTEiLCJ1bmlSZWdpb25JZCI6InIifQ=="`, `eyJ0YXNrSWQiOiJ0LTEiLCJ1bmlSZWdpb25JZCI6InIifQ==`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(event(tc.body)))
			if err != nil || len(ev.Messages) != 1 || ev.Messages[0].Problem != "" {
				t.Fatalf("DecodeEvent = %+v, %v", ev, err)
			}
			if got := string(ev.Messages[0].Body); got != tc.want {
				t.Fatalf("body %q, want %q", got, tc.want)
			}
		})
	}
	for _, body := range []string{`"{\"taskId\":\"t-1\",\"uniRegionId\":\"r\"}"`, `{"taskId":"t-1","uniRegionId":"r"}`, `"eyJ0YXNrSWQiOiJ0LTEiLCJ1bmlSZWdpb25JZCI6InIifQ=="`} {
		ev, _ := DecodeEvent([]byte(event(body)))
		if task, err := precheck.ParseTask(ev.Messages[0].Body); err != nil || task.TaskID != "t-1" || task.UniRegionID != "r" {
			t.Errorf("messageBody %s decodes to %+v, %v; want task t-1 in r", body, task, err)
		}
	}
	if ev, _ := DecodeEvent([]byte(event(`null`))); ev.Messages[0].Problem == "" {
		t.Errorf("a null messageBody is read as a body")
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		trigger Trigger
		errHas  string
	}{
		{"timer without payload", `{"triggerTime":"2026-11-27T02:00:00Z","triggerName":"t"}`, TimerTrigger, ""},
		{"timer with empty payload", `{"triggerTime":"x","triggerName":"t","payload":""}`, TimerTrigger, ""},
		{"timer with bad payload", `{"triggerTime":"x","triggerName":"t","payload":"full please"}`, "", "timer payload"},
		{"timer with unknown option", `{"triggerTime":"x","payload":"{\"mode\":\"full\"}"}`, "", "timer payload"},
		{"timer with zero cap", `{"triggerTime":"x","payload":"{\"maxTasks\":0}"}`, "", "positive"},
		{"fleet timer", fleetTimer("2026-12-07T03:00:00Z", `{"fleet":{"regions":["cn-hangzhou"],"types":["mysql"],"match":"prod-*"}}`), FleetTrigger, ""},
		{"fleet timer with its run", fleetTimer("", `{"fleet":{"regions":["cn-hangzhou"]},"run":"weekly-49"}`), FleetTrigger, ""},
		{"fleet of an unknown type", fleetTimer("2026-12-07T03:00:00Z", `{"fleet":{"regions":["cn-hangzhou"],"types":["DB2"]}}`), "", `database type "DB2" is not MYSQL, MSSQL or Oracle`},
		{"fleet without regions", fleetTimer("2026-12-07T03:00:00Z", `{"fleet":{"types":["MYSQL"]}}`), "", "no region"},
		{"fleet with an unknown field", fleetTimer("2026-12-07T03:00:00Z", `{"fleet":{"regions":["cn-hangzhou"],"region":"x"}}`), "", `unknown field "region"`},
		{"fleet that is not an object", fleetTimer("2026-12-07T03:00:00Z", `{"fleet":["cn-hangzhou"]}`), "", "timer payload must be"},
		{"fleet with maxTasks", fleetTimer("2026-12-07T03:00:00Z", `{"fleet":{"regions":["cn-hangzhou"]},"maxTasks":5}`), "", "takes no maxTasks"},
		{"fleet without a time to name its run", `{"triggerName":"t","payload":"{\"fleet\":{\"regions\":[\"cn-hangzhou\"]}}"}`, "", "no triggerTime"},
		{"fleet with a bad time", fleetTimer("next monday", `{"fleet":{"regions":["cn-hangzhou"]}}`), "", `triggerTime "next monday" is not an RFC 3339 time`},
		{"fleet with a bad run id", fleetTimer("", `{"fleet":{"regions":["cn-hangzhou"]},"run":"a b"}`), "", `run id "a b"`},
		{"run without a fleet", fleetTimer("", `{"run":"weekly-49"}`), "", "names a run but no fleet"},
		{"two payloads", fleetTimer("", `{"maxTasks":5} {"maxTasks":6}`), "", "more than one JSON value"},
		{"empty", ``, "", "empty"},
		{"null", `null`, "", "not a JSON object or array"},
		{"string", `"hello"`, "", "not a JSON object or array"},
		{"number", `42`, "", "not a JSON object or array"},
		{"empty array", `[]`, "", "empty array"},
		{"broken JSON", `{"triggerTime":`, "", "not valid JSON"},
		{"broken array", `[{"id":1}`, "", "not valid JSON"},
		{"unrelated object", `{"hello":"world"}`, "", "{hello}"},
		{"CloudEvent of another type", `{"specversion":"1.0","type":"oss:ObjectCreated","data":{}}`, "", "not mns:Queue:SendMessage"},
		{"CloudEvent without body", `{"specversion":"1.0","type":"mns:Queue:SendMessage","data":{"messageId":"m"}}`, "", "no data.messageBody"},
		{"array with a bad element", `[{"id":"a","type":"mns:Queue:SendMessage","data":{"messageBody":"x"}}, 7]`, MNSTrigger, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.event))
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("DecodeEvent error = %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil || ev.Trigger != tt.trigger {
				t.Fatalf("DecodeEvent = %+v, %v; want trigger %s", ev, err, tt.trigger)
			}
		})
	}
}

func TestBadCloudEventInBatchIsIsolated(t *testing.T) {
	ev, err := DecodeEvent([]byte(`[{"id":"a","type":"mns:Queue:SendMessage","data":{"messageId":"m1","messageBody":"{}"}}, 7, {"type":"x"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Messages) != 3 || ev.Messages[0].Problem != "" || ev.Messages[1].Problem == "" || ev.Messages[2].Problem == "" {
		t.Fatalf("messages = %+v", ev.Messages)
	}
	if string(ev.Messages[1].Raw) != "7" {
		t.Fatalf("a bad element must be kept verbatim for the dead-letter queue, got %q", ev.Messages[1].Raw)
	}
	if !errors.Is(mustErr(DecodeEvent([]byte(`{}`))), errUnknownEvent) {
		t.Fatal("shape errors must wrap errUnknownEvent")
	}
}

// The same message twice in one batch (EventBridge delivers at least once)
// is one message; CloudEvents without an id are never merged.
func TestRepeatedMessageInBatchIsOne(t *testing.T) {
	ce := func(id, body string) string {
		return `{"id":"` + id + `","type":"mns:Queue:SendMessage","data":{"messageId":"` + id + `","messageBody":"` + body + `"}}`
	}
	ev, err := DecodeEvent([]byte("[" + ce("m1", "a") + "," + ce("m2", "b") + "," + ce("m1", "a") + `,{"type":"x"},{"type":"y"}]`))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ev.Messages {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "m1,m2,," {
		t.Fatalf("message ids %q, want m1, m2 and the two id-less entries", ids)
	}
}

func mustErr(_ Event, err error) error { return err }

// fleetTimer is a timer event with payload, and triggerTime unless "".
func fleetTimer(triggerTime, payload string) string {
	ev := map[string]string{"triggerName": "fleet", "payload": payload}
	if triggerTime != "" {
		ev["triggerTime"] = triggerTime
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

func FuzzDecodeEvent(f *testing.F) {
	for _, name := range []string{"timer.json", "fleet-timer.json", "mns-eventbridge.json", "mns-eventbridge-object-body.json", "mns-eventbridge-base64-body.json", "mns-cloudevent.json", "task.json"} {
		b, err := os.ReadFile(filepath.Join("..", "events", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"type":"mns:Queue:SendMessage","data":{"messageBody":null}}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := DecodeEvent(raw)
		if err != nil {
			return
		}
		switch ev.Trigger {
		case TimerTrigger:
			if ev.Sweep.MaxTasks <= 0 {
				t.Fatalf("timer sweep without a positive cap: %+v", ev)
			}
		case MNSTrigger:
			if len(ev.Messages) == 0 {
				t.Fatal("MNS event without messages")
			}
		case TaskTrigger:
			if len(ev.Task) == 0 {
				t.Fatal("task event without a body")
			}
		case FleetTrigger:
			if len(ev.Fleet.Spec.Regions) == 0 || ev.Fleet.RunID == "" && ev.Fleet.Scheduled.IsZero() {
				t.Fatalf("fleet event without regions or a run: %+v", ev.Fleet)
			}
		default:
			t.Fatalf("unknown trigger %q", ev.Trigger)
		}
	})
}
