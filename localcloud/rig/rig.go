// Package rig runs the function's own binary on the local cloud under the
// emulated FC runtime, as the demo, the bench and the end-to-end tests do,
// and reads back what came of it from the emulators' own records and the
// invocations' reports, never from the function's log.
package rig

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/fcruntime"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// STSKeys are the function role's keys, which the emulated FC runtime hands
// over with each invocation.
var STSKeys = secret.Credentials{AccessKeyID: localcloud.STSAccessKeyID, AccessKeySecret: localcloud.STSAccessKeySecret, SecurityToken: localcloud.STSToken}

// Config is what differs between rigs. Zero fields take the defaults of
// localcloud and fcruntime.
type Config struct {
	// Binary is the function's executable; required.
	Binary string
	Cloud  localcloud.Options
	// Env is the function's settings beyond the cloud's; an empty value
	// removes one.
	Env [][2]string
	// Timeout, MemoryMB, Concurrency and MaxInstances are the function's
	// FC settings.
	Timeout                             time.Duration
	MemoryMB, Concurrency, MaxInstances int
	// Log, when set, also receives the function's output as it is written.
	Log io.Writer
}

// Rig is the local cloud with the function running on it.
type Rig struct {
	Cloud *localcloud.Cloud
	Fn    *fcruntime.Function
	// Output is everything the function's instances wrote.
	Output *fcruntime.Output
	// Function is the configuration Fn runs with, for starting more
	// functions like it.
	Function fcruntime.Config
}

// Start starts the local cloud and the function on it. The function has no
// keys in its environment: it must take each invocation's STS keys, as in
// FC.
func Start(ctx context.Context, cfg Config) (*Rig, error) {
	cloud, err := localcloud.Start(cfg.Cloud)
	if err != nil {
		return nil, err
	}
	r := &Rig{Cloud: cloud, Output: &fcruntime.Output{}}
	var out io.Writer = r.Output
	if cfg.Log != nil {
		out = io.MultiWriter(r.Output, cfg.Log)
	}
	env := append([][2]string{{"ALIBABA_CLOUD_ACCESS_KEY_ID", ""}, {"ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""}}, cfg.Env...)
	r.Function = fcruntime.Config{
		Binary:       cfg.Binary,
		FunctionName: "precheckwatch",
		Env:          fcruntime.Environ(cloud.Env(), env),
		Timeout:      cfg.Timeout,
		MemoryMB:     cfg.MemoryMB,
		Concurrency:  cfg.Concurrency,
		MaxInstances: cfg.MaxInstances,
		Credentials:  func() secret.Credentials { return STSKeys },
		Stdout:       out,
		Stderr:       out,
	}
	if r.Fn, err = fcruntime.Start(ctx, r.Function); err != nil {
		cloud.Close()
		return nil, err
	}
	return r, nil
}

// Close stops the function, then the local cloud.
func (r *Rig) Close() {
	r.Fn.Close()
	r.Cloud.Close()
}

// Seed registers script as task's precheck with Security Center and puts
// task on the pending queue, through the emulators' own methods.
func (r *Rig) Seed(task precheck.Task, script securitycenter.Task) error {
	return Seed(r.Cloud, task, script)
}

// Seed is Rig.Seed on cloud, for a test that runs the function's handler
// in its own process.
func Seed(cloud *localcloud.Cloud, task precheck.Task, script securitycenter.Task) error {
	if err := Script(cloud, task, script); err != nil {
		return err
	}
	body, err := task.Encode()
	if err != nil {
		return err
	}
	_, err = cloud.MNS.Send(localcloud.PendingQueue, string(body), 0)
	return err
}

// Script registers script as task's precheck with Security Center, under
// the task's id, instance and region (and database type, unless the
// script names one).
func Script(cloud *localcloud.Cloud, task precheck.Task, script securitycenter.Task) error {
	script.ID, script.InstanceUUID, script.UniRegionID = task.TaskID, task.InstanceUUID, task.UniRegionID
	if script.DatabaseType == "" {
		script.DatabaseType = task.DatabaseType
	}
	return cloud.SAS.AddTask(script)
}

// Posts counts, by channel name, the messages of cloud's chats that name
// taskID.
func (r *Rig) Posts(taskID string) map[string]int { return Posts(r.Cloud, taskID) }

// Posts counts, by channel name, the messages of cloud's chats that name
// taskID. An operator alert that quotes an error about the task is not a
// post of it.
func Posts(cloud *localcloud.Cloud, taskID string) map[string]int {
	out := map[string]int{}
	for _, chat := range cloud.Chats() {
		n := 0
		for _, l := range chat.Letters() {
			if strings.Contains(l.Text, taskID) && !IsRecordAlert(l.Text) {
				n++
			}
		}
		out[chat.Name] = n
	}
	return out
}

// Texts are the texts of each chat's messages, by channel name, in
// posting order.
func (r *Rig) Texts() map[string][]string {
	out := map[string][]string{}
	for _, chat := range r.Cloud.Chats() {
		for _, l := range chat.Letters() {
			out[chat.Name] = append(out[chat.Name], l.Text)
		}
	}
	return out
}

// IsRecordAlert reports whether a message's text is the operator alert that
// the delivery record cannot be reached, which quotes the failed call.
func IsRecordAlert(text string) bool { return strings.Contains(text, "DEDUPE_URL") }

// Reports are the reports of the invocations that answered, in the order
// they ended. An invocation that failed answered with an error, not a
// report.
func (r *Rig) Reports() []handler.Report {
	recs, _ := r.Fn.Records(0)
	return Reports(recs)
}

// Reports decodes the reports of the records that hold one.
func Reports(recs []fcruntime.Result) []handler.Report {
	var out []handler.Report
	for _, rec := range recs {
		var rep handler.Report
		if rec.Outcome == fcruntime.Succeeded && json.Unmarshal(rec.Body, &rep) == nil {
			out = append(out, rep)
		}
	}
	return out
}

// Fates are what became of taskID's messages, invocation by invocation.
func (r *Rig) Fates(taskID string) []handler.TaskFate { return Fates(r.Reports(), taskID) }

// Fates are what became of taskID's messages in reps.
func Fates(reps []handler.Report, taskID string) []handler.TaskFate {
	var out []handler.TaskFate
	for _, rep := range reps {
		for _, f := range rep.Tasks {
			if f.TaskID == taskID {
				out = append(out, f)
			}
		}
	}
	return out
}

// Quiet reports whether nothing more can be posted: no invocation runs and
// the pending queue holds no message, visible, delayed or in flight.
func (r *Rig) Quiet() bool {
	st := r.Cloud.MNS.Stats(localcloud.PendingQueue)
	return r.Fn.Stats().InFlight == 0 && st.Active+st.Delayed+st.Inactive == 0
}

// checkEvery bounds the wait between two looks at a condition: chats and
// queues change without an invocation ending.
const checkEvery = 100 * time.Millisecond

// Until waits until done holds, looking again whenever an invocation ends
// and at least every 100 ms, and calls each (when set) between looks. It
// returns ctx's error when ctx ends first.
func (r *Rig) Until(ctx context.Context, done func() bool, each func()) error {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	seen := 0
	for {
		recs, ended := r.Fn.Records(seen)
		seen += len(recs)
		if done() {
			return nil
		}
		if each != nil {
			each()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ended:
		case <-tick.C:
		}
	}
}
