//go:build !nolocalcloud

package cli

import (
	"strings"
	"testing"
	"time"

	"precheckwatch/localcloud"
)

// redrive moves what can go back from either dead-letter queue, unwrapping
// EventBridge's CloudEvents to the task bodies; --dry-run lists and moves
// nothing; a body that is still no task stays.
func TestRedrive(t *testing.T) {
	cloud := localCloudInEnv(t)
	const (
		task     = `{"taskId":"t-redrive-1","uniRegionId":"cn-hangzhou","label":"kept as sent"}`
		broken   = `{"taskId": "t-broken", "uniRegionId": `
		asString = `{"id":"e1","specversion":"1.0","type":"mns:Queue:SendMessage","data":{"messageId":"m1","messageBody":"{\"taskId\":\"t-redrive-2\",\"uniRegionId\":\"cn-hangzhou\"}"}}`
		asObject = `{"id":"e2","specversion":"1.0","type":"mns:Queue:SendMessage","data":{"messageId":"m2","messageBody":{"taskId":"t-redrive-3","uniRegionId":"cn-shanghai"}}}`
	)
	for q, bodies := range map[string][]string{
		localcloud.DeadLetterQueue:      {task, broken},
		localcloud.EventDeadLetterQueue: {asString, asObject},
	} {
		for _, b := range bodies {
			if _, err := cloud.MNS.Send(q, b, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(q string) int {
		st := cloud.MNS.Stats(q)
		return st.Active + st.Inactive + st.Delayed
	}

	code, out, errOut := cli(t, "redrive", "--dry-run")
	if code != exitOK || !strings.Contains(out, "would move") || !strings.Contains(out, "t-redrive-1") || !strings.Contains(out, "still not a task") ||
		!strings.HasSuffix(out, "redrive: would move 1 message(s) (1 task(s)) from precheck-dead-letter to precheck-pending; 1 left on precheck-dead-letter\n") {
		t.Fatalf("redrive --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if n := count(localcloud.PendingQueue); n != 0 {
		t.Fatalf("a dry run put %d message(s) on the pending queue", n)
	}
	// A dry run's receives hide the messages; it hands them back, visible
	// again after MNS's shortest visibility of a second.
	cloud.MNS.Advance(time.Second)
	if st := cloud.MNS.Stats(localcloud.DeadLetterQueue); st.Active != 2 {
		t.Fatalf("a second after a dry run the dead-letter queue holds %+v, want both messages visible", st)
	}

	code, out, errOut = cli(t, "redrive")
	if code != exitOK || !strings.HasSuffix(out, "redrive: moved 1 message(s) (1 task(s)) from precheck-dead-letter to precheck-pending; 1 left on precheck-dead-letter\n") {
		t.Fatalf("redrive: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "redrive", "--from", localcloud.EventDeadLetterQueue)
	if code != exitOK || !strings.HasSuffix(out, "moved 2 message(s) (2 task(s)) from precheck-event-dead-letter to precheck-pending; 0 left on precheck-event-dead-letter\n") {
		t.Fatalf("redrive --from %s: exit %d\n%s%s", localcloud.EventDeadLetterQueue, code, out, errOut)
	}
	var got []string
	for _, m := range cloud.MNS.Messages(localcloud.PendingQueue) {
		got = append(got, m.Body)
	}
	want := []string{task, `{"taskId":"t-redrive-2","uniRegionId":"cn-hangzhou"}`, `{"taskId":"t-redrive-3","uniRegionId":"cn-shanghai"}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the pending queue holds\n%s\nwant the task bodies, as sent\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if msgs := cloud.MNS.Messages(localcloud.DeadLetterQueue); len(msgs) != 1 || msgs[0].Body != broken {
		t.Errorf("the dead-letter queue holds %+v, want only the unreadable body", msgs)
	}
	if n := count(localcloud.EventDeadLetterQueue); n != 0 {
		t.Errorf("EventBridge's dead-letter queue still holds %d message(s)", n)
	}

	if code, _, errOut := cli(t, "redrive", "--from", localcloud.PendingQueue); code != exitUsage || !strings.Contains(errOut, "pending queue itself") {
		t.Errorf("redrive from the pending queue: exit %d %q", code, errOut)
	}
}
