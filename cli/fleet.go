package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"precheckwatch/config"
	"precheckwatch/fleet"
	"precheckwatch/function"
	"precheckwatch/handler"
	"precheckwatch/ledger"
)

// listFlag is a flag that may be repeated or given as a comma-separated
// list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fleet", "fleet --region REGION [--type TYPE] [--match GLOB] [--run ID] [--timeout 10m] [--dry-run]", stdout, stderr)
	var regions, types listFlag
	fs.Var(&regions, "region", "region of the database hosts (UniRegionId), e.g. cn-hangzhou; repeat or comma-separate for more")
	fs.Var(&types, "type", "database type: MYSQL, MSSQL or Oracle; repeat or comma-separate for more; default every type")
	match := fs.String("match", "", "only databases whose instance or database name matches this glob, e.g. 'prod-*'")
	runID := fs.String("run", "", "the run to start or resume; default the fleet's run of the day (UTC), so the same command the same day resumes it")
	dryRun := fs.Bool("dry-run", false, "list the databases the run would check, and start nothing")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to keep starting; what is left is started by running the same command again")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	spec, err := fleet.Spec{Regions: regions, Types: types, Match: *match}.Normalize()
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch fleet: %v\n", strings.TrimPrefix(err.Error(), "fleet: "))
		return exitUsage
	}
	if *runID != "" {
		if err := fleet.CheckRunID(*runID); err != nil {
			fmt.Fprintf(stderr, "precheckwatch fleet: %v\n", strings.TrimPrefix(err.Error(), "fleet: "))
			return exitUsage
		}
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	f, err := function.New(cfg, io.Discard)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch fleet: %v\n", err)
		return exitConfig
	}
	defer f.Close()
	if strings.HasPrefix(cfg.DedupeURL.Reveal(), "memory:") {
		fmt.Fprintln(stderr, "precheckwatch fleet: DEDUPE_URL is memory://, so the run is recorded in this process only: "+
			"the same command again starts every database again, and the function's summary never sees the run. "+
			"Set DEDUPE_URL to the function's Redis.")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req := fleet.Request{Spec: spec, RunID: *runID, Scheduled: time.Now().UTC().Truncate(24 * time.Hour), DryRun: *dryRun}
	inv := handler.Invocation{Region: mnsRegion(cfg, spec), AccountID: cfg.AccountID, Credentials: cfg.Credentials}
	res, err := f.StartFleet(ctx, inv, req)
	printFleet(stdout, cfg, res, *dryRun)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch fleet: %v\n", err)
		if errors.Is(err, fleet.ErrIncomplete) || len(res.Started) > 0 {
			fmt.Fprintf(stderr, "run the same command again (with --run %s) to start the rest\n", res.Run.ID)
		}
		return exitFailure
	}
	return exitOK
}

// mnsRegion is the region the CLI reaches MNS in: FC_REGION, else the
// fleet's first.
func mnsRegion(cfg config.Config, spec fleet.Spec) string {
	if cfg.Region != "" {
		return cfg.Region
	}
	return spec.Regions[0]
}

// printFleet says what the run covers and what this invocation did.
func printFleet(w io.Writer, cfg config.Config, res fleet.Result, dryRun bool) {
	if res.Run.ID == "" {
		return
	}
	fmt.Fprintf(w, "run %s: %s\n", res.Run.ID, res.Run.Fleet)
	switch {
	case dryRun && res.Resumed:
		fmt.Fprintf(w, "already planned: %d databases, %d started\n", len(res.Run.Members), res.Count(ledger.Started))
	case dryRun:
		fmt.Fprintf(w, "would check %d databases (of %d listed):\n", len(res.Run.Members), res.Listed)
	case res.Resumed:
		fmt.Fprintf(w, "resumed: %d databases in the run\n", len(res.Run.Members))
	default:
		fmt.Fprintf(w, "planned: %d databases in the run (of %d listed)\n", len(res.Run.Members), res.Listed)
	}
	if dryRun {
		for _, m := range res.Run.Members {
			fmt.Fprintf(w, "  %-16s %-6s %-28s %s\n", m.UniRegionID, m.DatabaseType, m.Name, m.InstanceUUID)
		}
		return
	}
	fmt.Fprintf(w, "started %d prechecks, enqueued %d tasks on %s; in the run %d started", len(res.Started), res.Enqueued, cfg.Queue, res.Count(ledger.Started))
	if n := res.Count(ledger.Unsure); n > 0 {
		fmt.Fprintf(w, ", %d unsure (a start whose answer was lost is not repeated)", n)
	}
	if n := len(res.Failed); n > 0 {
		fmt.Fprintf(w, ", %d failed", n)
	}
	if res.Left > 0 {
		fmt.Fprintf(w, ", %d left for want of time", res.Left)
	}
	fmt.Fprintln(w)
	for _, e := range res.Failed {
		fmt.Fprintf(w, "  not started: %s: %v\n", e.Database, e.Err)
	}
}
