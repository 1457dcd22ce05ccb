package handler

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"precheckwatch/precheck"
)

// Each message's fate in the report says what became of it in the terms a
// reader of the report needs: the decision, the verdict, the wait, and the
// channels still lacking the verdict.
func TestTaskFates(t *testing.T) {
	task := precheck.Task{TaskID: "t-1", Attempt: 3}
	warn := &precheck.Outcome{Verdict: precheck.Warning}
	cases := []struct {
		name string
		job  *job
		want TaskFate
		ok   bool
	}{
		{"still running", &job{task: task, kind: requeueJob, delay: 1500 * time.Millisecond, progress: 40},
			TaskFate{TaskID: "t-1", Attempt: 3, Decision: Requeued, Progress: 40, DelayMS: 1500}, true},
		{"held", &job{task: task, kind: holdJob, delay: time.Minute},
			TaskFate{TaskID: "t-1", Attempt: 3, Decision: Held, DelayMS: 60000}, true},
		{"finished on every channel", &job{task: task, kind: doneJob, outcome: warn, reached: true, progress: 100},
			TaskFate{TaskID: "t-1", Attempt: 3, Decision: Finished, Verdict: precheck.Warning, Progress: 100}, true},
		{"finished, one channel short", &job{task: task, kind: redeliverJob, outcome: warn, reached: true, delay: 2 * time.Second, missing: []string{"feishu"}},
			TaskFate{TaskID: "t-1", Attempt: 3, Decision: Finished, Verdict: precheck.Warning, DelayMS: 2000, Missing: []string{"feishu"}}, true},
		{"redelivered", &job{task: task, kind: doneJob, outcome: warn},
			TaskFate{TaskID: "t-1", Attempt: 3, Decision: Redelivered, Verdict: precheck.Warning}, true},
		{"stale copy", &job{task: task, kind: doneJob},
			TaskFate{TaskID: "t-1", Attempt: 3, Decision: Dropped}, true},
		{"dead letter", &job{kind: deadLetterJob}, TaskFate{}, false},
		{"handed on already", &job{kind: skipJob}, TaskFate{}, false},
	}
	for _, c := range cases {
		got, ok := c.job.fate()
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: fate = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// A sweep's report lists the fates of its first MaxTaskFates messages and
// counts the rest, so its size does not grow with the sweep.
func TestTaskFatesAreBounded(t *testing.T) {
	tl := newTally("r-1", TimerTrigger, time.Now())
	for i := range MaxTaskFates + 5 {
		tl.fate(&job{task: precheck.Task{TaskID: fmt.Sprintf("t-%d", i)}, kind: requeueJob})
	}
	tl.fate(&job{kind: deadLetterJob})
	rep := tl.report()
	if len(rep.Tasks) != MaxTaskFates || rep.TasksOmitted != 5 || rep.Tasks[0].TaskID != "t-0" {
		t.Errorf("%d fates listed (first %+v), %d omitted; want %d and 5", len(rep.Tasks), rep.Tasks[0], rep.TasksOmitted, MaxTaskFates)
	}
}
