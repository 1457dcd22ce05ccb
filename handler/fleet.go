package handler

import (
	"context"
	"slices"
	"sync"
	"time"

	"precheckwatch/ledger"
	"precheckwatch/notify"
	"precheckwatch/precheck"
)

// A fleet run's tasks end like any others, and the run ends once with a
// summary on each channel: as each member task's verdict is sealed it is
// tallied in its run (the delivery record's membership of the task, not
// the task's claim, says which run), and once the tally holds every
// started member, or the run's deadline passed, the summary is claimed,
// sent and marked sent per channel like a verdict, so it is posted once
// however many instances end the run together. With NOTIFY_MODE=changes a
// task whose verdict is its database's previous one posts nothing of its
// own: the summary shows it; one that changed mentions the on-call team
// only when it changed for the worse.

// runEnds is what an invocation learnt of the fleet runs it tallied.
type runEnds struct {
	mu sync.Mutex
	// complete holds the runs found complete, to be summarised once the
	// verdicts are delivered; made on first use.
	complete map[string]bool
}

// runDeadline is how long after its plan a run's summary waits for its
// last verdicts: starting a fleet takes a while under the rate limit, and
// each task may take TASK_DEADLINE from when it is first seen.
func (h *Handler) runDeadline() time.Duration { return 2 * h.cfg.Policy.Deadline }

// tallyRuns tallies the finished fleet tasks among jobs in their runs,
// marks quiet those whose verdict need not be posted, and notes the runs
// now complete.
func (r *run) tallyRuns(ctx context.Context, jobs []*job) {
	var fleet []*job
	var ids []string
	for _, j := range jobs {
		if j.kind == finishedJob && j.task.Run != "" && j.outcome != nil {
			fleet, ids = append(fleet, j), append(ids, j.task.TaskID)
		}
	}
	if len(fleet) == 0 {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	members, err := r.h.d.Ledger.Memberships(sctx, ids)
	if err != nil {
		r.ledgerError("read run memberships", err)
		r.holdUntallied(fleet)
		return
	}
	var verdicts []ledger.RunVerdict
	var tallied []*job
	for _, j := range fleet {
		if m, ok := members[j.task.TaskID]; ok {
			verdicts = append(verdicts, ledger.RunVerdict{Run: m.Run, Database: m.Database, Verdict: j.outcome.Verdict})
			tallied = append(tallied, j)
		}
	}
	if len(verdicts) == 0 {
		return
	}
	t, err := r.h.d.Ledger.TallyVerdicts(sctx, verdicts)
	if err != nil {
		r.ledgerError("tally run verdicts", err)
		r.holdUntallied(tallied)
		return
	}
	if r.h.cfg.ChangesOnly {
		for i, j := range tallied {
			prev, known := t.Previous[verdicts[i].Database]
			if j.quiet = known && prev == j.outcome.Verdict || !known && j.outcome.Verdict == precheck.Passed; j.quiet {
				r.tally.add(func(rep *Report) { rep.Quiet++ })
				continue
			}
			if known {
				// The change mentions the on-call team only when it is
				// for the worse.
				changed := *j.outcome
				changed.Previous = prev
				j.outcome = &changed
			}
		}
	}
	for run, n := range t.Counts {
		plan, ok, err := r.h.d.Ledger.Run(sctx, run)
		if err != nil {
			r.ledgerError("read a run", err)
			continue
		}
		if ok && (complete(plan, n) || r.h.d.Now().Sub(plan.PlannedAt) >= r.h.runDeadline()) {
			r.ends.mu.Lock()
			if r.ends.complete == nil {
				r.ends.complete = map[string]bool{}
			}
			r.ends.complete[run] = true
			r.ends.mu.Unlock()
		}
	}
}

// holdUntallied holds fleet tasks whose verdicts could not be tallied in
// their runs: whether such a verdict is posted depends on the database's
// previous one, which the tally tells, and the run's summary counts on the
// tally. Their verdicts stay sealed, to be tallied and delivered when the
// record answers.
func (r *run) holdUntallied(jobs []*job) {
	for _, j := range jobs {
		r.holdUnrecorded(j, "its fleet run's tally could not be read")
	}
}

// complete reports whether a run's tally of n verdicts holds every member
// that was started, every other member being one whose start is unsure
// (it will never have a verdict), not one still to start.
func complete(plan ledger.Run, n int) bool {
	started := 0
	for _, m := range plan.Members {
		switch m.Start {
		case ledger.Started:
			started++
		case ledger.Unsure:
		default:
			return false
		}
	}
	return n >= started
}

// endRuns posts the summary of every run found complete, and, on a timer,
// of every open run whose deadline passed.
func (r *run) endRuns(ctx context.Context, trigger Trigger) {
	if r.recordFailing() {
		// Asking a record that fails would only wait: the time is kept to
		// alert the operator and hand every task on; a later invocation
		// ends the runs.
		return
	}
	r.ends.mu.Lock()
	runs := make([]string, 0, len(r.ends.complete))
	for run := range r.ends.complete {
		runs = append(runs, run)
	}
	r.ends.mu.Unlock()
	slices.Sort(runs)
	var plans []ledger.Run
	for _, id := range runs {
		sctx, cancel := r.recordCtx(ctx)
		plan, ok, err := r.h.d.Ledger.Run(sctx, id)
		cancel()
		if err != nil {
			r.ledgerError("read a run", err)
		} else if ok {
			plans = append(plans, plan)
		}
	}
	if trigger == TimerTrigger {
		plans = append(plans, r.overdueRuns(ctx, runs)...)
	}
	for _, plan := range plans {
		r.summarise(ctx, plan)
	}
}

// overdueRuns are the open runs, other than those already found complete,
// that are complete (an instance that found so may have died before the
// summary) or whose deadline passed.
func (r *run) overdueRuns(ctx context.Context, skip []string) []ledger.Run {
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	open, err := r.h.d.Ledger.OpenRuns(sctx)
	if err != nil {
		r.ledgerError("list open runs", err)
		return nil
	}
	var out []ledger.Run
	for _, id := range open {
		if slices.Contains(skip, id) {
			continue
		}
		plan, ok, err := r.h.d.Ledger.Run(sctx, id)
		if err != nil {
			r.ledgerError("read a run", err)
			return out
		}
		if !ok {
			continue
		}
		tallied, err := r.h.d.Ledger.Tally(sctx, id)
		if err != nil {
			r.ledgerError("read a run's tally", err)
			return out
		}
		if complete(plan, len(tallied)) || r.h.d.Now().Sub(plan.PlannedAt) >= r.h.runDeadline() {
			out = append(out, plan)
		}
	}
	return out
}

// summarise posts plan's summary once on each channel that lacks it, and
// closes the run once every channel has it.
func (r *run) summarise(ctx context.Context, plan ledger.Run) {
	content, err := r.summaryOf(ctx, plan)
	if err != nil {
		r.ledgerError("read a run's verdicts", err)
		return
	}
	all := true
	for _, sink := range r.h.d.Sinks {
		all = r.postSummary(ctx, sink, plan.ID, content) && all
	}
	if !all {
		return
	}
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	if err := r.h.d.Ledger.CloseRun(sctx, plan.ID); err != nil {
		r.ledgerError("close a run", err)
	}
}

// postSummary sends the summary on sink under the delivery record, after
// settling an earlier attempt whose answer was lost; it reports whether
// the channel has the summary.
func (r *run) postSummary(ctx context.Context, sink notify.Sink, run string, content notify.Run) bool {
	key := ledger.SummaryKey(sink.Name(), run)
	claims, ok := r.claim(ctx, []ledger.Key{key})
	if !ok {
		return false
	}
	switch claims[0].State {
	case ledger.Sent:
		return true
	case ledger.Busy:
		return false
	}
	item := pendingItem{lease: claims[0].Lease, prior: claims[0].Prior}
	items := []pendingItem{item}
	mode := modeOf(sink)
	m := sink.Summary(content)
	m.Key = key.ID()
	if item.prior != nil {
		switch mode {
		case historyMode:
			done := make([]bool, 1)
			if len(r.findInHistory(ctx, sink.(notify.Searcher), items, done)) == 0 {
				return done[0]
			}
		case idempotentMode:
			// A repeat goes out exactly as first attempted.
			kept, err := r.keptMessage(ctx, sink, item.prior.Message)
			if err != nil {
				r.ledgerError("read a summary to repeat", err)
				r.release(ctx, items)
				return false
			}
			m = kept
		}
	}
	var body []byte
	if mode == idempotentMode {
		var err error
		if body, err = keptBody(m); err != nil {
			r.log.Error("summary not kept; not sending", "run", run, "error", err)
			r.release(ctx, items)
			return false
		}
	}
	attempt := ledger.Attempt{Message: m.Key, At: r.h.d.Now()}
	if mode != plainMode && !r.noteAttempt(ctx, items, attempt, body) {
		return false
	}
	out, unsure := r.send(ctx, sink, mode, m, []string{m.Key}, "summary of run "+run)
	if !out.Sent() {
		r.unsent(ctx, mode, items, attempt.Message, unsure)
		return false
	}
	r.markSent(ctx, items, out)
	r.tally.add(func(rep *Report) { rep.Summaries[sink.Name()]++ })
	return true
}

// summaryOf reads what the summary of plan shows: each member's sealed
// verdict, and the verdicts of the fleet's run before it.
func (r *run) summaryOf(ctx context.Context, plan ledger.Run) (notify.Run, error) {
	sctx, cancel := r.recordCtx(ctx)
	defer cancel()
	l := r.h.d.Ledger
	out := notify.Run{Fleet: plan.Fleet, ID: plan.ID, Started: plan.PlannedAt}
	var ids []string
	for _, m := range plan.Members {
		if m.TaskID != "" {
			ids = append(ids, m.TaskID)
		}
	}
	outcomes := map[string]*precheck.Outcome{}
	if len(ids) > 0 {
		recs, err := l.Recall(sctx, ids, r.h.d.Now())
		if err != nil {
			return out, err
		}
		for i, rec := range recs {
			outcomes[ids[i]] = rec.Outcome
		}
	}
	for _, m := range plan.Members {
		task := precheck.Task{TaskID: m.TaskID, UniRegionID: m.UniRegionID, InstanceUUID: m.InstanceUUID,
			DatabaseType: m.DatabaseType, Label: displayName(m), Run: plan.ID}
		var o *precheck.Outcome
		if m.TaskID != "" {
			o = outcomes[m.TaskID]
		}
		out.Members = append(out.Members, notify.Member{ID: m.Database, Database: displayName(m), Task: task, Outcome: o})
	}
	prevID, err := l.FollowRun(sctx, fleetOf(plan), plan.ID)
	if err != nil || prevID == "" {
		return out, err
	}
	prev, ok, err := l.Run(sctx, prevID)
	if err != nil || !ok {
		return out, err
	}
	verdicts, err := l.Tally(sctx, prevID)
	if err != nil {
		return out, err
	}
	out.Previous = make(map[string]notify.Prior, len(prev.Members))
	for _, m := range prev.Members {
		out.Previous[m.Database] = notify.Prior{Database: displayName(m), Verdict: verdicts[m.Database]}
	}
	return out, nil
}

// fleetOf names the fleet a run's predecessor is looked up by.
func fleetOf(plan ledger.Run) string {
	if plan.Fleet != "" {
		return plan.Fleet
	}
	return "fleet"
}

// displayName is how people know a member: its name, else its identity.
func displayName(m ledger.Member) string {
	if m.Name != "" {
		return m.Name
	}
	return m.Database
}

// recordFailing reports whether a call to the delivery record failed in
// this invocation.
func (r *run) recordFailing() bool {
	r.tally.mu.Lock()
	defer r.tally.mu.Unlock()
	return r.tally.r.RecordErrors > 0
}
