package function

import (
	"context"
	"sync"

	"golang.org/x/time/rate"

	"precheckwatch/fleet"
	"precheckwatch/handler"
	"precheckwatch/sas"
	"precheckwatch/secret"
)

// StartFleet starts a fleet run with an invocation's credentials, against
// Security Center, the pending queue and the function's delivery record. It
// implements handler.FleetStarter.
func (f *Function) StartFleet(ctx context.Context, inv handler.Invocation, req fleet.Request) (fleet.Result, error) {
	q, err := f.Queues.queueFor(inv, f.cfg.Queue)
	if err != nil {
		return fleet.Result{}, err
	}
	starter := &fleet.Starter{
		SAS:         &regionalSAS{checker: f.Checker, clients: map[string]*sas.Client{}},
		Credentials: inv.Credentials,
		Queue:       q,
		Runs:        f.Ledger,
		Limit:       rate.NewLimiter(rate.Limit(f.cfg.SASRateLimit), handler.SASBurst(f.cfg.SASRateLimit)),
		Log:         f.Log,
	}
	return starter.Start(ctx, req)
}

// regionalSAS calls each database's region's Security Center site: a
// fleet may span the mainland and the international site.
type regionalSAS struct {
	checker *Checker
	mu      sync.Mutex
	clients map[string]*sas.Client // by the region's site endpoint
}

func (r *regionalSAS) client(region string) (*sas.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	site := sas.DefaultEndpoint(region)
	if c := r.clients[site]; c != nil {
		return c, nil
	}
	c, err := r.checker.ClientFor(region)
	if err != nil {
		return nil, err
	}
	r.clients[site] = c
	return c, nil
}

func (r *regionalSAS) DescribeDatabases(ctx context.Context, creds secret.Credentials, q sas.DatabaseQuery, paging sas.Paging) ([]sas.Database, error) {
	c, err := r.client(q.UniRegionID)
	if err != nil {
		return nil, err
	}
	return c.DescribeDatabases(ctx, creds, q, paging)
}

func (r *regionalSAS) StartPreCheck(ctx context.Context, creds secret.Credentials, databaseType, uniRegionID, instanceUUID string) (string, error) {
	c, err := r.client(uniRegionID)
	if err != nil {
		return "", err
	}
	return c.StartPreCheck(ctx, creds, databaseType, uniRegionID, instanceUUID)
}
