package function

import (
	"context"
	"errors"

	"precheckwatch/failure"
	"precheckwatch/handler"
	"precheckwatch/precheck"
	"precheckwatch/sas"
)

// Checker adapts the Security Center client to the handler: it queries each
// task with the invocation's credentials, at the endpoint of its region.
type Checker struct {
	endpoint string // SAS_ENDPOINT; empty: the endpoint follows the region
	region   string // the function's region
	client   *sas.Client
}

// NewChecker returns the Checker for a function in region calling endpoint
// (SAS_ENDPOINT; empty follows the region). Only a bad endpoint is an
// error: with neither endpoint nor region, each query fails instead.
func NewChecker(endpoint, region string) (*Checker, error) {
	client, err := sas.New(sas.Config{Endpoint: endpoint, Region: region})
	if err != nil && endpoint != "" {
		return nil, err
	}
	return &Checker{endpoint: endpoint, region: region, client: client}, nil
}

// ClientFor returns the Security Center client for a region: the one built
// at start, or, when the endpoint follows the region, one for that region.
func (c *Checker) ClientFor(region string) (*sas.Client, error) {
	if c.endpoint == "" && region != c.region {
		return sas.New(sas.Config{Region: region})
	}
	if c.client == nil {
		return nil, errors.New("no Security Center endpoint: set SAS_ENDPOINT or FC_REGION")
	}
	return c.client, nil
}

// Query implements handler.Checker.
func (c *Checker) Query(ctx context.Context, inv handler.Invocation, t precheck.Task) (precheck.Status, error) {
	client, err := c.ClientFor(inv.Region)
	if err != nil {
		return precheck.Status{}, &failure.Error{Service: "sas", Op: "QueryPreCheckDatabase", Class: failure.Permanent, Message: err.Error()}
	}
	st, err := client.QueryPreCheck(ctx, inv.Credentials, t.TaskID, t.UniRegionID, t.InstanceUUID)
	if err != nil {
		return precheck.Status{}, err
	}
	return precheck.Status{Progress: st.Progress, Description: st.Description, Result: st.Result}, nil
}
