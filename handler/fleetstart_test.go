package handler

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"precheckwatch/fleet"
	"precheckwatch/ledger"
	"precheckwatch/localcloud/mns"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/queue"
	"precheckwatch/sas"
	"precheckwatch/secret"
)

// starterOf hands a fleet timer's run to a fleet.Starter on emulators.
type starterOf struct{ s *fleet.Starter }

func (a starterOf) StartFleet(ctx context.Context, _ Invocation, req fleet.Request) (fleet.Result, error) {
	return a.s.Start(ctx, req)
}

func newFleetStarter(t *testing.T, databases int) (*fleet.Starter, *securitycenter.Server) {
	t.Helper()
	creds := secret.Credentials{AccessKeyID: "LTAI5tFleetTest", AccessKeySecret: "fleet-secret"}
	sc := securitycenter.New(securitycenter.Config{})
	sc.AddAccount(creds.AccessKeyID, creds.AccessKeySecret.Reveal())
	for _, d := range securitycenter.GenerateFleet(databases, 5) {
		sc.AddDatabase(d)
	}
	scSrv := httptest.NewServer(sc)
	t.Cleanup(scSrv.Close)
	mq := mns.New(mns.Config{AccessKeys: map[string]string{creds.AccessKeyID: creds.AccessKeySecret.Reveal()}})
	if err := mq.CreateQueue("precheck-pending", mns.QueueAttributes{}); err != nil {
		t.Fatal(err)
	}
	mqSrv := httptest.NewServer(mq)
	t.Cleanup(mqSrv.Close)
	client, err := sas.New(sas.Config{Endpoint: scSrv.URL, Region: "cn-hangzhou"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Config{Endpoint: mqSrv.URL, Name: "precheck-pending", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	return &fleet.Starter{SAS: client, Credentials: creds, Queue: q, Runs: ledger.NewMemory()}, sc
}

// TestFleetTimer: a fleet timer starts its run; the platform's retry of
// the same event finds it done and starts nothing again.
func TestFleetTimer(t *testing.T) {
	starter, sc := newFleetStarter(t, 60)
	h := New(Settings{SASRateLimit: 100}, Deps{Fleet: starterOf{starter}})
	event := []byte(`{"triggerTime":"2026-12-07T03:00:00Z","triggerName":"fleet-weekly","payload":"{\"fleet\":{\"regions\":[\"cn-hangzhou\",\"cn-shanghai\"]}}"}`)
	rep, err := h.Handle(context.Background(), Invocation{RequestID: "r-1"}, event)
	if err != nil || rep.Trigger != FleetTrigger || rep.Fleet == nil || !rep.Fleet.Done || rep.Fleet.Members == 0 ||
		rep.Fleet.Started != rep.Fleet.Members || rep.Fleet.Enqueued != rep.Fleet.Members {
		t.Fatalf("fleet timer: %+v, %v", rep.Fleet, err)
	}
	if n := sc.Calls(securitycenter.ActionStartPreCheckDatabase); n != rep.Fleet.Members {
		t.Fatalf("%d starts for %d members", n, rep.Fleet.Members)
	}
	again, err := h.Handle(context.Background(), Invocation{RequestID: "r-2"}, event)
	if err != nil || !again.Fleet.Resumed || again.Fleet.Started != 0 || again.Fleet.Run != rep.Fleet.Run || !again.Fleet.Done {
		t.Fatalf("the retried event: %+v, %v", again.Fleet, err)
	}
	if n := sc.Calls(securitycenter.ActionStartPreCheckDatabase); n != rep.Fleet.Members {
		t.Fatalf("the retry started prechecks again: %d starts for %d members", n, rep.Fleet.Members)
	}
}

func TestFleetTimerUnwired(t *testing.T) {
	h := New(Settings{}, Deps{})
	_, err := h.Handle(context.Background(), Invocation{}, []byte(`{"triggerTime":"2026-12-07T03:00:00Z","payload":"{\"fleet\":{\"regions\":[\"cn-hangzhou\"]}}"}`))
	if !errors.Is(err, errNoFleet) {
		t.Fatalf("unwired fleet timer: %v", err)
	}
}
