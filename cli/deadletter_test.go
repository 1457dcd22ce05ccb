//go:build !nolocalcloud

package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/queue"
)

// invokeWith runs the invoke command on event and returns its report.
func invokeWith(t *testing.T, event []byte) (code int, rep map[string]any, errOut string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(file, event, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "invoke", "--event", file)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("invoke printed no report (%v):\n%s\n%s", err, out, errOut)
	}
	return code, rep, errOut
}

// Unreadable bodies reach the dead-letter queue byte for byte where MNS can
// carry them, as base64 where it cannot, and cut to fit when too long; the
// invocation succeeds either way.
func TestDeadLettersKeepTheBody(t *testing.T) {
	cloud := localCloudInEnv(t)
	long := []byte(`{"taskId":"t-long","label":"` + strings.Repeat("x", 70000) + `"}`)
	for _, tc := range []struct {
		name string
		body []byte
		want func(t *testing.T, letter string)
	}{
		{"UTF-8", []byte(`{"taskId":"t-no-region","label":"ledger-ora ☃"}`), func(t *testing.T, letter string) {
			if letter != `{"taskId":"t-no-region","label":"ledger-ora ☃"}` {
				t.Errorf("dead letter %q is not the body byte for byte", letter)
			}
		}},
		{"not UTF-8", []byte("{\"taskId\":\"t-\xff\xfe\"}"), func(t *testing.T, letter string) {
			if raw, err := base64.StdEncoding.DecodeString(letter); err != nil || !bytes.Equal(raw, []byte("{\"taskId\":\"t-\xff\xfe\"}")) {
				t.Errorf("dead letter %q is not the base64 of the body's bytes (%v)", letter, err)
			}
		}},
		{"over 64 KB", long, func(t *testing.T, letter string) {
			kept, note, cut := strings.Cut(letter, queue.CutMarker)
			if !cut || len(letter) > queue.MaxBatchBytes || !bytes.HasPrefix(long, []byte(kept)) || !strings.Contains(note, "SHA-256") {
				t.Errorf("dead letter of %d bytes is not the body cut to fit with a note: …%q", len(letter), letter[max(0, len(letter)-200):])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, rep, errOut := invokeWith(t, tc.body)
			if code != exitOK || rep["deadLettered"] != 1.0 {
				t.Fatalf("invoke: exit %d, report %v\n%s", code, rep, errOut)
			}
			msgs := cloud.MNS.Messages(localcloud.DeadLetterQueue)
			if len(msgs) == 0 {
				t.Fatal("nothing on the dead-letter queue")
			}
			tc.want(t, msgs[len(msgs)-1].Body)
		})
	}
}

// EventBridge may deliver one message twice in a batch: it is handled once,
// and the invocation succeeds.
func TestRepeatedMessageInOneBatchIsHandledOnce(t *testing.T) {
	cloud := localCloudInEnv(t)
	result := securitycenter.ResultJSON(securitycenter.Check("MYSQL", "i-twice", time.Now(), nil))
	if err := cloud.SAS.AddTask(securitycenter.Task{ID: "t-twice", DatabaseType: "MYSQL", Polls: []int{100}, Result: result}); err != nil {
		t.Fatal(err)
	}
	ev := `{"id":"e1","specversion":"1.0","type":"mns:Queue:SendMessage","data":{"messageId":"M-TWICE","messageBody":"{\"taskId\":\"t-twice\",\"uniRegionId\":\"cn-hangzhou\"}"}}`
	code, rep, errOut := invokeWith(t, []byte("["+ev+","+ev+"]"))
	if code != exitOK || rep["received"] != 1.0 || rep["finished"] != 1.0 {
		t.Fatalf("invoke: exit %d, report %v, want one message received and finished\n%s", code, rep, errOut)
	}
	if n := len(cloud.Slack.Messages()); n != 1 {
		t.Errorf("Slack got %d messages, want 1", n)
	}
}
