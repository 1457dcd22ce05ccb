package securitycenter

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Task descriptions QueryPreCheckDatabase answers with.
const (
	DescriptionCreated   = "created"
	DescriptionCompleted = "completed"
	DescriptionError     = "error"
)

// Task scripts one precheck task. Its progress follows Polls when set,
// else the emulator's clock: it finishes Duration after it was added.
type Task struct {
	ID           string // the task id (StartPreCheckDatabase's CreateMark)
	DatabaseType string // MYSQL, MSSQL or Oracle
	InstanceUUID string // the backup agent's UUID; empty matches any query
	UniRegionID  string // the database host's region; empty matches any query
	// Polls is the Progress each successive query answers; the query that
	// reaches the last value also carries the outcome. E.g. [0 30 60 100].
	Polls    []int
	Duration time.Duration
	// Description is the outcome: DescriptionCompleted (the default) or
	// DescriptionError.
	Description string
	// Result is the outcome's Result JSON. Empty on a completed task means
	// every item of DatabaseType PASSED on instance InstanceID.
	Result     string
	InstanceID string // the ECS instance id the default Result names
}

// task is a Task as the emulator runs it.
type task struct {
	Task
	created  time.Time
	polls    int       // queries answered so far
	finished time.Time // when a Polls-driven task reached its last value
}

// precheckStatus is what QueryPreCheckDatabase reports for a task at one moment.
type precheckStatus struct {
	Progress      int
	Description   string
	Result        string
	CreatedTime   int64
	UpdatedTime   int64
	CompletedTime int64
}

func (t *Task) validate() error {
	if t.ID == "" {
		return errors.New("securitycenter: task has no ID")
	}
	if _, ok := sourceItems[strings.ToUpper(t.DatabaseType)]; !ok {
		return fmt.Errorf("securitycenter: task %s: database type %q is not MYSQL, MSSQL or Oracle", t.ID, t.DatabaseType)
	}
	for _, p := range t.Polls {
		if p < 0 || p > 100 {
			return fmt.Errorf("securitycenter: task %s: progress %d is outside 0..100", t.ID, p)
		}
	}
	if t.Duration < 0 {
		return fmt.Errorf("securitycenter: task %s: negative duration", t.ID)
	}
	switch t.Description {
	case "":
		t.Description = DescriptionCompleted
	case DescriptionCompleted, DescriptionError:
	default:
		return fmt.Errorf("securitycenter: task %s: outcome %q is not completed or error", t.ID, t.Description)
	}
	return nil
}

// poll answers one query at now and advances a Polls-driven task.
func (t *task) poll(now time.Time) precheckStatus {
	st := precheckStatus{Description: DescriptionCreated, CreatedTime: t.created.Unix(), UpdatedTime: now.Unix()}
	var done time.Time
	if len(t.Polls) > 0 {
		i := min(t.polls, len(t.Polls)-1)
		t.polls++
		st.Progress = t.Polls[i]
		if i == len(t.Polls)-1 {
			if t.finished.IsZero() {
				t.finished = now
			}
			done = t.finished
		}
	} else {
		elapsed := now.Sub(t.created)
		if elapsed >= t.Duration {
			st.Progress = 100
			done = t.created.Add(t.Duration)
		} else {
			st.Progress = max(0, min(99, int(elapsed*100/t.Duration)))
		}
	}
	if done.IsZero() {
		return st
	}
	st.Description = t.Description
	st.Result = t.outcomeResult(done)
	st.UpdatedTime = done.Unix()
	st.CompletedTime = done.Unix()
	return st
}

func (t *task) outcomeResult(done time.Time) string {
	if t.Result != "" || t.Description != DescriptionCompleted {
		return t.Result
	}
	return ResultJSON(Check(t.DatabaseType, t.InstanceID, done, nil))
}

// Database is one database DescribeUniBackupDatabase lists and
// StartPreCheckDatabase can check.
type Database struct {
	InstanceUUID     string // the HBR backup agent's UUID
	InstanceID       string // ECS instance id
	InstanceName     string
	DatabaseName     string
	DatabaseType     string // MYSQL, MSSQL or Oracle
	DatabaseVersion  string
	UniRegionID      string
	AgentStatus      string // default INSTALLED
	Status           string // default Running
	CreatedByProduct string // default AEGIS
	PolicyID         int64
	// Precheck is what a precheck started on this database reports per
	// item; items not named PASS.
	Precheck map[string]string
	// PrecheckDuration is how long a precheck started on this database
	// runs; 0 means the server's PrecheckDuration.
	PrecheckDuration time.Duration
	// PrecheckDescription is how such a precheck ends: DescriptionCompleted
	// (the default) or DescriptionError.
	PrecheckDescription string
}
