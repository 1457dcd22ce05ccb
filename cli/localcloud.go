//go:build !nolocalcloud

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"precheckwatch/handler"
	"precheckwatch/localcloud"
	"precheckwatch/localcloud/bench"
	"precheckwatch/localcloud/demo"
)

// developerCommands are the commands for a developer's machine: those that
// run the local cloud's emulators, and the preview page of sample
// messages. A build with -tags nolocalcloud, as s.yaml deploys the
// function, leaves them out with the emulators, the preview's templates and
// its sample verdicts, none of which the function uses and all of which
// would add to its cold start.
func developerCommands() []command {
	return []command{
		{"demo", "run the whole function against an in-process local cloud and show the messages", runDemo},
		{"localcloud", "run the local cloud's emulators until interrupted; prints export lines", runLocalCloud},
		{"bench", "benchmark the function through the local cloud", runBench},
		{"preview", "serve a page showing sample messages as Slack, DingTalk and Feishu render them", runPreview},
	}
}

func runLocalCloud(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("localcloud", "localcloud [flags]", stdout, stderr)
	sasAddr := fs.String("sas", "127.0.0.1:9200", "Security Center emulator address")
	mnsAddr := fs.String("mns", "127.0.0.1:9100", "MNS emulator address")
	slackAddr := fs.String("slack", "127.0.0.1:9300", "Slack emulator address")
	dingAddr := fs.String("dingtalk", "127.0.0.1:9400", "DingTalk emulator address")
	feishuAddr := fs.String("feishu", "127.0.0.1:9500", "Feishu emulator address")
	precheckDuration := fs.Duration("precheck-duration", time.Minute, "how long a precheck started with StartPreCheckDatabase runs")
	fleetSize := fs.Int("fleet", 40, "how many databases Security Center holds for backup, across regions and types, for fleet runs")
	envFile := fs.String("env-file", localCloudEnvFile, "file the export lines are also written to, for another shell to source; removed on exit; empty: none")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *precheckDuration <= 0 {
		fmt.Fprintf(stderr, "precheckwatch localcloud: --precheck-duration %s: want a positive duration, e.g. 1ms or 1m\n", *precheckDuration)
		return exitUsage
	}
	cloud, err := localcloud.Start(localcloud.Options{SASAddr: *sasAddr, MNSAddr: *mnsAddr, SlackAddr: *slackAddr, DingTalkAddr: *dingAddr,
		FeishuAddr: *feishuAddr, PrecheckDuration: *precheckDuration, Fleet: max(0, *fleetSize)})
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch localcloud: %v\n", err)
		return exitFailure
	}
	defer cloud.Close()
	exports := cloud.Exports()
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(exports), 0o600); err != nil {
			fmt.Fprintf(stderr, "precheckwatch localcloud: %v\n", err)
			return exitFailure
		}
		defer os.Remove(*envFile)
	}
	fmt.Fprint(stdout, exports)
	how := "eval the export lines above in another shell"
	if *envFile != "" {
		how = "in another shell: . " + sourcePath(*envFile)
	}
	fmt.Fprintf(stdout, "# local cloud running; %s. Chat messages appear below as they arrive; Ctrl-C stops it.\n", how)
	watchInbox(ctx, cloud, stdout)
	return exitOK
}

// sourcePath is how the shell's "." finds name: a bare file name is looked
// up on PATH, so it needs "./".
func sourcePath(name string) string {
	if strings.ContainsRune(name, filepath.Separator) {
		return shellQuote(name)
	}
	return "./" + shellQuote(name)
}

// localCloudEnvFile is where localcloud writes its export lines.
const localCloudEnvFile = "localcloud.env"

// watchInbox prints each message the local cloud's chat emulators accept,
// as it arrives, until ctx ends.
func watchInbox(ctx context.Context, cloud *localcloud.Cloud, w io.Writer) {
	printed := map[string]bool{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, l := range cloud.Inbox() {
			if key := fmt.Sprintf("%s#%d", l.Where, l.Seq); !printed[key] {
				printed[key] = true
				l.Print(w, l.Where)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--fleet] [--timeout 90s] [--logs]", stdout, stderr)
	timeout := fs.Duration("timeout", 90*time.Second, "give up when the verdicts are not all posted by then")
	showLogs := fs.Bool("logs", false, "also print the function's JSON log lines")
	fleetRuns := fs.Bool("fleet", false, "instead: two fleet runs of a fleet of databases, the second after a few changed, and each channel's summaries")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	run := func(ctx context.Context) error { return demo.Run(ctx, stdout, *showLogs) }
	if *fleetRuns {
		run = func(ctx context.Context) error { return demo.RunFleet(ctx, stdout) }
	}
	if err := run(ctx); err != nil {
		fmt.Fprintf(stderr, "precheckwatch demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", "bench [--tasks 1000] [--latency 50ms] [--concurrency 16] [--rate-limit R] [--memory-mb 128] [--trigger timer|mns] [--running 0.2] [--channels slack,dingtalk,feishu|none] [--dedupe memory|redis]", stdout, stderr)
	var cfg bench.Config
	fs.IntVar(&cfg.Tasks, "tasks", 1000, "precheck tasks to put through the function")
	fs.DurationVar(&cfg.Latency, "latency", 50*time.Millisecond, "latency added to every request to every emulated service")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "CHECK_CONCURRENCY of the function")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 0, "SAS_RATE_LIMIT in requests a second; 0 sets 4 × concurrency / latency, which does not bind")
	fs.IntVar(&cfg.MemoryMB, "memory-mb", 128, "the function's memory size (FC_FUNCTION_MEMORY_SIZE), for the GB-s figure")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "the function's FC timeout")
	trigger := fs.String("trigger", "timer", "timer: one timer sweep of the queue; mns: the EventBridge stream pushes batches")
	fs.Float64Var(&cfg.Running, "running", 0, "share of tasks (0..1) still running when checked, requeued instead of notified")
	fs.IntVar(&cfg.Batch, "batch", 1000, "EventBridge batch size (CountBasedWindow, 1..10000) with --trigger mns; s.yaml's is 1000")
	channels := fs.String("channels", "slack,dingtalk,feishu", "chat channels the function posts to: a comma list of slack, dingtalk and feishu, or none")
	fs.StringVar(&cfg.Dedupe, "dedupe", "memory", "delivery record: memory (the function's own) or redis (a real redis-server, round trips counted)")
	fs.DurationVar(&cfg.RedisLatency, "redis-latency", 0, "latency added to every round trip to Redis with --dedupe redis")
	fs.DurationVar(&cfg.Visibility, "visibility", 0, "VisibilityTimeout of the queues; 0 is MNS's default, 30s")
	fs.IntVar(&cfg.ColdStarts, "cold-starts", 11, "instances of each binary the cold-start figures are the median of")
	fs.StringVar(&cfg.Binary, "binary", "", "the function binary to run and measure the cold start of; default this executable, with the cold start of the deployed build (-tags nolocalcloud, CGO_ENABLED=0)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	cfg.Trigger = handler.Trigger(*trigger)
	if *channels != "none" && *channels != "" {
		cfg.Channels = strings.Split(*channels, ",")
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "precheckwatch bench: %v\n", err)
		return exitUsage
	}
	res, err := bench.Run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch bench: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, res.Line())
	return exitOK
}
