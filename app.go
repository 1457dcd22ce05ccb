package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"precheckwatch/config"
	"precheckwatch/failure"
	"precheckwatch/handler"
	"precheckwatch/ledger"
	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/feishu"
	"precheckwatch/notify/pace"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
	"precheckwatch/sas"
)

// function is the handler wired to the real Security Center, MNS and chat
// channel clients.
type function struct {
	cfg     config.Config
	handler *handler.Handler
	sas     *sas.Client
	queues  *mnsQueues
	ledger  ledger.Ledger
	pacers  *pace.Pacers
	log     *slog.Logger
}

// newFunction wires the handler for cfg, logging JSON to logOut.
func newFunction(cfg config.Config, logOut io.Writer) (*function, error) {
	log := newLogger(cfg.LogLevel, logOut)
	// go-redis reports dial failures through its one process-wide logger;
	// route them into the first function's structured log instead of bare
	// stderr lines.
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{log}) })
	record, err := ledger.Open(cfg.DedupeURL.Reveal())
	if err != nil {
		return nil, err
	}
	sasClient, err := sas.New(sas.Config{Endpoint: cfg.SASEndpoint, Region: cfg.Region})
	if err != nil && cfg.SASEndpoint != "" {
		record.Close()
		return nil, fmt.Errorf("SAS_ENDPOINT: %w", err)
	}
	// The channels' pace is kept beside the delivery record, so that
	// instances sharing the record share the pace too.
	pacers, err := pace.Open(cfg.DedupeURL.Reveal())
	if err != nil {
		record.Close()
		return nil, err
	}
	sinks, err := newSinks(cfg, pacers)
	if err != nil {
		record.Close()
		pacers.Close()
		return nil, err
	}
	f := &function{cfg: cfg, sas: sasClient, queues: newMNSQueues(cfg), ledger: record, pacers: pacers, log: log}
	f.handler = handler.New(cfg, handler.Deps{
		Checker: sasChecker{f},
		Queues:  f.queues,
		Sinks:   sinks,
		Ledger:  record,
		Fleet:   fleetStarter{f},
		Log:     log,
	})
	return f, nil
}

func (f *function) handle(ctx context.Context, inv handler.Invocation, event []byte) (handler.Report, error) {
	return f.handler.Handle(ctx, inv, event)
}

func (f *function) close() {
	f.ledger.Close()
	f.pacers.Close()
}

// sasFor returns the Security Center client for a region: the one built at
// start, or, when the endpoint follows the region, one for that region.
func (f *function) sasFor(region string) (*sas.Client, error) {
	if f.cfg.SASEndpoint == "" && region != f.cfg.Region {
		return sas.New(sas.Config{Region: region})
	}
	if f.sas == nil {
		return nil, errors.New("no Security Center endpoint: set SAS_ENDPOINT or FC_REGION")
	}
	return f.sas, nil
}

// sasChecker adapts the Security Center client to the handler.
type sasChecker struct{ f *function }

func (c sasChecker) Query(ctx context.Context, inv handler.Invocation, t precheck.Task) (precheck.Status, error) {
	client, err := c.f.sasFor(inv.Region)
	if err != nil {
		return precheck.Status{}, &failure.Error{Service: "sas", Op: "QueryPreCheckDatabase", Class: failure.Permanent, Message: err.Error()}
	}
	st, err := client.QueryPreCheck(ctx, inv.Credentials, t.TaskID, t.UniRegionID, t.InstanceUUID)
	if err != nil {
		return precheck.Status{}, err
	}
	return precheck.Status{Progress: st.Progress, Description: st.Description, Result: st.Result}, nil
}

// channels are the chat channels a deployment may configure.
var channels = []func(config.Config, notify.Wiring) (notify.Sink, error){
	slack.FromConfig,
	dingtalk.FromConfig,
	feishu.FromConfig,
}

// newSinks builds the configured chat channels, paced by pacers.
func newSinks(cfg config.Config, pacers *pace.Pacers) ([]notify.Sink, error) {
	w := notify.Wiring{HTTPClient: &http.Client{Timeout: 10 * time.Second}, Pacers: pacers}
	var sinks []notify.Sink
	for _, open := range channels {
		s, err := open(cfg, w)
		if err != nil {
			return nil, err
		}
		if s != nil {
			sinks = append(sinks, s)
		}
	}
	return sinks, nil
}

func newLogger(level string, out io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // config.Load has validated it
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: l}))
}

var redisLogOnce sync.Once

// redisLogger carries go-redis's internal messages into the JSON log.
type redisLogger struct{ log *slog.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn("redis", "detail", fmt.Sprintf(format, v...))
}
