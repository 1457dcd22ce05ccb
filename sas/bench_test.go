package sas

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/utils"
)

// cannedTransport answers every request in-process with one body, so that a
// benchmark measures the client's own work: build, sign, send and read one
// call, without a network or a server.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json;charset=utf-8"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

// BenchmarkQueryPreCheck is the CPU one QueryPreCheckDatabase call costs the
// function (about 50 µs and 276 allocations). Profiled (-cpuprofile), a
// third of it is the SDK's nonce: utils.GetNonce reads the goroutine id by
// formatting the caller's whole stack with runtime.Stack. Nothing outside
// the SDK changes that: signRpcRequest sets SignatureNonce through an
// unexported hook on every signing, overwriting one the request carries,
// the signer argument of ProcessCommonRequestWithSigner is ignored, and
// each signing builds a new HMAC. Making the call on a fresh goroutine, to
// shorten the stack the nonce formats, costs more in stack growth and
// scheduling than it saves (about 60 µs a call).
func BenchmarkQueryPreCheck(b *testing.B) {
	body := []byte(`{"RequestId":"4C1AE3F3-18FA-4108-BBB9-AFA1A032756C","Progress":100,"Description":"completed",` +
		`"Result":"[]","CreatedTime":1700000000,"UpdatedTime":1700000060,"CompletedTime":1700000060}`)
	client, err := New(Config{Endpoint: "http://tds.cn-shanghai.aliyuncs.com", Region: "cn-hangzhou", Transport: cannedTransport{body}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := client.QueryPreCheck(ctx, stsCreds, "t-000bc9nqwxsbyvod0001", "cn-hangzhou", "uuid-1")
		if err != nil || st.Progress != 100 {
			b.Fatalf("status %+v, error %v", st, err)
		}
	}
}

// BenchmarkSDKNonce is the SDK's SignatureNonce alone, made for every request.
func BenchmarkSDKNonce(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if utils.GetNonce() == "" {
			b.Fatal("empty nonce")
		}
	}
}
