package localcloud

import (
	"context"
	"time"

	"precheckwatch/localcloud/eventbridge"
)

// DeployedStream is the EventBridge trigger on the pending queue as s.yaml
// deploys it: bodies passed as they are (IsBase64Decode: false),
// BACKOFF_RETRY, batches of up to 1,000 messages or 15 s, and a dead-letter
// queue of its own for batches whose retries ran out. The demo and the
// bench shorten its waits; TestDeployedStreamIsSYAMLs keeps it in step
// with s.yaml.
func (c *Cloud) DeployedStream() eventbridge.StreamConfig {
	return eventbridge.StreamConfig{
		Queue: c.MNS, QueueName: PendingQueue, FunctionName: "precheckwatch", TriggerName: "pending",
		BatchSize: 1000, BatchWindow: 15 * time.Second,
		SkipBase64Decode: true,
		RetryStrategy:    eventbridge.BackoffRetry,
		DeadLetter: func(_ context.Context, event []byte) error {
			_, err := c.MNS.Send(EventDeadLetterQueue, string(event), 0)
			return err
		},
	}
}
