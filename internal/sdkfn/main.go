// Command sdkfn is the hello-world function of internal/hellofn linked with
// the libraries precheckwatch is built on: the SDKs SPEC §1 requires and
// go-redis, each called once as the function calls it. The bench measures
// its cold start beside the function's: it is the least a function on these
// libraries can start in, because a linked package initialises whether or
// not the invocation uses it, and the MNS SDK's errors format through
// text/template, whose reflection keeps every exported method of the
// binary's types (so go-redis's hundreds of commands) where a smaller
// program would drop them.
//
// Under FC_RUNTIME_API it serves invocations with fc.Start; without it, as
// the function's command line does, it makes each library's call once
// against a closed local port, so that the linker keeps what a real call
// needs, and prints what each answered.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"
)

// closed is a loopback address nothing listens on; mnsEndpoint is in the
// shape the MNS SDK requires, on a domain that never resolves (RFC 2606).
const (
	closed      = "127.0.0.1:1"
	mnsEndpoint = "http://1234567890.mns.cn-hangzhou.nowhere.invalid"
)

func main() {
	if os.Getenv("FC_RUNTIME_API") == "" {
		callEach()
		return
	}
	fc.Start(func(context.Context) (string, error) { return "hello", nil })
}

// callEach makes one call of each library, as the function does: a
// Security Center common request, an MNS batch receive and send, a Slack
// post and a pipelined Redis script.
func callEach() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if client, err := sdk.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(), credentials.NewAccessKeyCredential("id", "secret")); err != nil {
		fmt.Println("sas:", err)
	} else {
		req := requests.NewCommonRequest()
		req.Domain, req.Version, req.ApiName, req.Scheme = closed, "2018-12-03", "QueryPreCheckDatabase", "http"
		_, err := client.ProcessCommonRequest(req)
		fmt.Println("sas:", err)
	}

	queue := ali_mns.NewMNSQueue("pending", ali_mns.NewAliMNSClientWithConfig(ali_mns.AliMNSClientConfig{
		EndPoint: mnsEndpoint, AccessKeyId: "id", AccessKeySecret: "secret",
	}))
	_, err := queue.BatchSendMessage(ali_mns.MessageSendRequest{MessageBody: "hello"})
	fmt.Println("mns send:", err)
	received, failed := make(chan ali_mns.BatchMessageReceiveResponse, 1), make(chan error, 1)
	queue.BatchReceiveMessage(received, failed, 16, 1)
	select {
	case <-received:
		fmt.Println("mns receive: a message")
	case err := <-failed:
		fmt.Println("mns receive:", err)
	}

	_, _, err = slack.New("xoxb-none", slack.OptionAPIURL("http://"+closed+"/api/")).
		PostMessageContext(ctx, "C0", slack.MsgOptionText("hello", false))
	fmt.Println("slack:", err)

	rdb := redis.NewClient(&redis.Options{Addr: closed, MaxRetries: -1})
	defer rdb.Close()
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		redis.NewScript("return 1").Eval(ctx, p, nil)
		return nil
	})
	fmt.Println("redis:", err)
}
