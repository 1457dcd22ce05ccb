package handler

import (
	"context"
	"errors"
	"fmt"

	"precheckwatch/fleet"
	"precheckwatch/ledger"
)

// FleetStarter starts a fleet run with an invocation's credentials: a
// fleet.Starter wired to Security Center, the pending queue and the ledger.
type FleetStarter interface {
	StartFleet(ctx context.Context, inv Invocation, req fleet.Request) (fleet.Result, error)
}

// FleetReport is what a fleet timer's invocation did to its run.
type FleetReport struct {
	Run   string `json:"run"`
	Fleet string `json:"fleet"`
	// Members counts the run's databases; Resumed says an earlier
	// invocation planned the run.
	Members int  `json:"members"`
	Resumed bool `json:"resumed,omitempty"`
	// Started and Enqueued count what this invocation did.
	Started  int `json:"started"`
	Enqueued int `json:"enqueued"`
	// StartedInRun counts the run's members started so far; Unsure those
	// whose start's outcome is unknown (never repeated in the run).
	StartedInRun int `json:"startedInRun"`
	Unsure       int `json:"unsure,omitempty"`
	// Failed counts members left unstarted by an error, Left those not
	// tried for want of time: the run's next invocation starts them.
	Failed int `json:"failed,omitempty"`
	Left   int `json:"left,omitempty"`
	// Done reports that the run needs no further invocation.
	Done bool `json:"done"`
}

func fleetReport(res fleet.Result) *FleetReport {
	return &FleetReport{
		Run: res.Run.ID, Fleet: res.Run.Fleet, Members: len(res.Run.Members), Resumed: res.Resumed,
		Started: len(res.Started), Enqueued: res.Enqueued, StartedInRun: res.Count(ledger.Started),
		Unsure: res.Count(ledger.Unsure), Failed: len(res.Failed), Left: res.Left, Done: res.Done(),
	}
}

// errNoFleet is returned for a fleet timer when the function is not wired
// to start fleet runs.
var errNoFleet = errors.New("this function cannot start fleet runs (no fleet starter wired)")

// startFleet runs a fleet timer's invocation. An incomplete run fails the
// invocation, so that the platform's retry, carrying the same event,
// resumes it.
func (h *Handler) startFleet(ctx context.Context, inv Invocation, req fleet.Request) (Report, error) {
	log := h.d.Log.With("requestId", inv.RequestID)
	rep := newTally(inv.RequestID, FleetTrigger, h.d.Now()).report()
	if h.d.Fleet == nil {
		return rep, errNoFleet
	}
	res, err := h.d.Fleet.StartFleet(ctx, inv, req)
	rep.Fleet = fleetReport(res)
	rep.Timeline.Ended = h.d.Now()
	log.Info("fleet run invocation done", "run", rep.Fleet.Run, "members", rep.Fleet.Members, "started", rep.Fleet.Started,
		"enqueued", rep.Fleet.Enqueued, "unsure", rep.Fleet.Unsure, "failed", rep.Fleet.Failed, "left", rep.Fleet.Left, "done", rep.Fleet.Done)
	if err != nil {
		log.Error("fleet run incomplete", "run", rep.Fleet.Run, "error", err)
		if rep.Fleet.Run == "" {
			return rep, err
		}
		return rep, fmt.Errorf("fleet run %s: %w", rep.Fleet.Run, err)
	}
	return rep, nil
}
