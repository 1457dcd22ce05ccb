// Command hellofn is the smallest function fc-runtime-go-sdk can serve: the
// baseline the bench measures the real function's cold start against, so
// that the figure says what precheckwatch adds to Go's and the SDK's own
// start.
package main

import (
	"context"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
)

func main() {
	fc.Start(func(context.Context) (string, error) { return "hello", nil })
}
