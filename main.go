// precheckwatch is an Alibaba Cloud Function Compute 3.0 function (runtime
// go1) that watches Security Center database-backup precheck tasks and posts
// their verdicts to Slack, DingTalk and Feishu. With FC_RUNTIME_API set it
// serves invocations; otherwise it is a command-line tool with a local cloud.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"precheckwatch/cli"
	"precheckwatch/config"
	"precheckwatch/function"
	"precheckwatch/handler"
)

func main() {
	if os.Getenv("FC_RUNTIME_API") != "" {
		serveFC()
		return
	}
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}

// serveFC runs the function under FC's runtime API. Bad configuration fails
// every invocation with the same clear error rather than exiting, which FC
// would report only as a crashed instance.
func serveFC() {
	cfg, cfgErr := config.Load(os.Getenv)
	var fn *function.Function
	if cfgErr == nil {
		fn, cfgErr = function.New(cfg, os.Stdout)
	}
	if cfgErr != nil {
		fmt.Fprintf(os.Stderr, "precheckwatch: configuration: %v\n", cfgErr)
	}
	fc.Start(func(ctx context.Context, event json.RawMessage) (handler.Report, error) {
		if cfgErr != nil {
			return handler.Report{}, fmt.Errorf("configuration: %w", cfgErr)
		}
		return fn.Handle(ctx, function.InvocationOf(ctx, cfg), event)
	})
}
