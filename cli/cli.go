// Package cli is precheckwatch's command line: the commands it runs
// without FC_RUNTIME_API, their flags and their exit codes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"precheckwatch/config"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // the command ran and failed
	exitUsage    = 2 // bad flags or arguments
	exitConfig   = 3 // bad configuration
	exitNotFound = 4 // status, enqueue: Security Center knows no such task
	// start: the precheck started but could not be enqueued; the error
	// says how to enqueue it.
	exitNotEnqueued = 5
)

// command is one CLI subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return append(developerCommands(), []command{
		{"invoke", "run one invocation in-process with the current environment", runInvoke},
		{"enqueue", "put a precheck task on the pending queue", runEnqueue},
		{"start", "start a precheck with StartPreCheckDatabase and enqueue its task", runStart},
		{"fleet", "start a precheck of every database of a fleet (regions, types, name pattern) and enqueue the tasks", runFleet},
		{"status", "query one task once and print it as the message would read", runStatus},
		{"redrive", "move dead-lettered messages back to the pending queue after a fix", runRedrive},
		{"config", "print the effective configuration, secrets redacted", runConfig},
	}...)
}

// Run runs the command line args (without the program name) and returns
// its exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "precheckwatch: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "precheckwatch watches Security Center database-backup prechecks and posts verdicts to Slack, DingTalk and Feishu.")
	fmt.Fprintln(w, "\nUsage: precheckwatch <command> [flags]   (with FC_RUNTIME_API set: serve FC invocations)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'precheckwatch <command> --help' for a command's flags. Configuration comes from environment variables; see 'precheckwatch config'.")
}

// flagSet is one subcommand's flags. --help prints the usage to standard
// output and exits 0; a bad flag prints the error and the usage to standard
// error and exits 2; flags may come before or after the arguments.
type flagSet struct {
	*flag.FlagSet
	synopsis       string
	stdout, stderr io.Writer
}

// newFlags returns the flag set of the subcommand name; synopsis is its
// usage line after "precheckwatch".
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, stdout: stdout, stderr: stderr}
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed by parse, to the stream the case calls for
	return fs
}

// parse parses args, which must hold flags only; ok is false with the exit
// code when the command must stop (help asked for, or bad usage).
func (fs *flagSet) parse(args []string) (code int, ok bool) {
	_, code, ok = fs.parseArgs(args, 0)
	return code, ok
}

// parseArgs parses args holding exactly n arguments besides the flags, in
// any order ("--" ends the flags), and returns the arguments.
func (fs *flagSet) parseArgs(args []string, n int) (positional []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printUsage(fs.stdout)
				return nil, exitOK, false
			}
			fs.printUsage(fs.stderr)
			return nil, exitUsage, false
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 || (consumed > 0 && args[consumed-1] == "--") {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) != n {
		switch {
		case n == 0:
			fmt.Fprintf(fs.stderr, "precheckwatch %s: unexpected argument %q\n", fs.Name(), positional[0])
		case len(positional) < n:
			fmt.Fprintf(fs.stderr, "precheckwatch %s: missing argument\n", fs.Name())
		default:
			fmt.Fprintf(fs.stderr, "precheckwatch %s: unexpected argument %q\n", fs.Name(), positional[n])
		}
		fs.printUsage(fs.stderr)
		return nil, exitUsage, false
	}
	return positional, exitOK, true
}

func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: precheckwatch %s\n", fs.synopsis)
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if !has {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(fs.stderr)
}

// loadConfig reads the configuration, reporting problems once.
func loadConfig(stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "precheckwatch: configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return cfg, false
	}
	return cfg, true
}

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("config", "config", stdout, stderr)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return exitConfig
	}
	pairs := cfg.Redacted()
	width := 0
	for _, kv := range pairs {
		width = max(width, len(kv[0]))
	}
	for _, kv := range pairs {
		fmt.Fprintf(stdout, "%-*s  %s\n", width, kv[0], kv[1])
	}
	var channels []string
	if cfg.SlackEnabled() {
		channels = append(channels, "slack")
	}
	if cfg.DingTalkEnabled() {
		channels = append(channels, "dingtalk")
	}
	if cfg.FeishuEnabled() {
		channels = append(channels, "feishu")
	}
	sort.Strings(channels)
	if len(channels) == 0 {
		channels = []string{"none (verdicts are only logged)"}
	}
	fmt.Fprintf(stdout, "\nchannels: %s\n", strings.Join(channels, ", "))
	return exitOK
}
