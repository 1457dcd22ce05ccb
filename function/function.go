// Package function wires the handler to the real Security Center, MNS,
// delivery record and chat channel clients, as configured: the function FC
// serves and the invoke command runs.
package function

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"precheckwatch/config"
	"precheckwatch/handler"
	"precheckwatch/ledger"
	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/feishu"
	"precheckwatch/notify/pace"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
	"precheckwatch/secret"
)

// Function is the handler with its adapters.
type Function struct {
	Handler *handler.Handler
	Checker *Checker
	Queues  *Queues
	Ledger  ledger.Ledger
	Log     *slog.Logger

	cfg    config.Config
	pacers *pace.Pacers
}

// New wires the handler for cfg, logging JSON to logOut.
func New(cfg config.Config, logOut io.Writer) (*Function, error) {
	log := newLogger(cfg.LogLevel, logOut)
	ledger.LogRedisTo(log)
	record, err := ledger.Open(cfg.DedupeURL.Reveal())
	if err != nil {
		return nil, err
	}
	checker, err := NewChecker(cfg.SASEndpoint, cfg.Region)
	if err != nil {
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
	f := &Function{cfg: cfg, Checker: checker, Queues: NewQueues(cfg), Ledger: record, Log: log, pacers: pacers}
	f.Handler = handler.New(Settings(cfg), handler.Deps{
		Checker: f.Checker,
		Queues:  f.Queues,
		Sinks:   sinks,
		Ledger:  record,
		Fleet:   f,
		Log:     log,
	})
	return f, nil
}

// Settings are the handler's settings in cfg.
func Settings(cfg config.Config) handler.Settings {
	return handler.Settings{
		Queue: cfg.Queue, DeadLetterQueue: cfg.DeadLetterQueue,
		Policy: precheck.Policy{
			BackoffInitial: cfg.BackoffInitial,
			BackoffMax:     cfg.BackoffMax,
			Deadline:       cfg.TaskDeadline,
			UnknownGrace:   cfg.UnknownTaskGrace,
		},
		CheckConcurrency: cfg.CheckConcurrency, SASRateLimit: cfg.SASRateLimit, DigestThreshold: cfg.DigestThreshold,
		NotifyStarted: cfg.NotifyStarted, ChangesOnly: cfg.NotifyMode == config.NotifyChanges,
		Credentials: cfg.Credentials,
	}
}

// Handle handles one invocation's event.
func (f *Function) Handle(ctx context.Context, inv handler.Invocation, event []byte) (handler.Report, error) {
	return f.Handler.Handle(ctx, inv, event)
}

// Close closes the connections to the delivery record.
func (f *Function) Close() {
	f.Ledger.Close()
	f.pacers.Close()
}

// InvocationOf reads what FC says about the invocation of ctx, falling
// back to the configuration.
func InvocationOf(ctx context.Context, cfg config.Config) handler.Invocation {
	inv := handler.Invocation{Region: cfg.Region, AccountID: cfg.AccountID}
	fctx, ok := fccontext.FromContext(ctx)
	if !ok {
		return inv
	}
	inv.RequestID = fctx.RequestID
	inv.Credentials = secret.Credentials{
		AccessKeyID:     fctx.Credentials.AccessKeyId,
		AccessKeySecret: secret.Value(fctx.Credentials.AccessKeySecret),
		SecurityToken:   secret.Value(fctx.Credentials.SecurityToken),
	}
	if fctx.Region != "" {
		inv.Region = fctx.Region
	}
	if fctx.AccountId != "" {
		inv.AccountID = fctx.AccountId
	}
	return inv
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
