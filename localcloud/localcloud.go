// Package localcloud starts precheckwatch's local cloud: loopback emulators
// of Security Center, MNS, Slack, DingTalk and Feishu that speak the real wire
// protocols, so the function, its tests and the demo run with no cloud
// account. The FC runtime and EventBridge drivers live in fcruntime and
// eventbridge; this package wires the services and names them for the
// function's configuration.
package localcloud

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"precheckwatch/localcloud/dingtalk"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/feishu"
	"precheckwatch/localcloud/mns"
	"precheckwatch/localcloud/securitycenter"
	"precheckwatch/localcloud/slack"
)

// The account the local cloud accepts. These keys open nothing but the
// emulators; they are printed by `localcloud` so that eval of its output
// points a shell at them.
const (
	AccessKeyID     = "LTAI5tLocalCloudKey0001"
	AccessKeySecret = "localcloud-access-key-secret"
	// The function role's STS keys, handed to each invocation by the
	// emulated FC runtime.
	STSAccessKeyID     = "STS.LocalCloudRoleKey0001"
	STSAccessKeySecret = "localcloud-sts-secret"
	STSToken           = "CAIS.localcloud-security-token"

	Region    = "cn-hangzhou"
	AccountID = "1234567890123456"

	PendingQueue    = "precheck-pending"
	DeadLetterQueue = "precheck-dead-letter"
	// EventDeadLetterQueue is the EventBridge trigger's own dead-letter
	// queue, as s.yaml deploys it.
	EventDeadLetterQueue = "precheck-event-dead-letter"

	SlackToken      = "xoxb-1111-2222-localcloud"
	SlackChannelID  = "C0PRECHECK1"
	SlackChannel    = "db-oncall"
	SlackWebhook    = "/services/T0LOCAL01/B0LOCAL01/localcloudwebhooksecret"
	DingTalkToken   = "localcloud0dingtalk0access0token"
	DingTalkSecret  = "SEClocalcloud0dingtalk0signing0secret"
	DingTalkKeyword = "precheck"
	FeishuToken     = "localcloud-feishu-hook-0001"
	FeishuSecret    = "localcloudfeishusigningsecret"
	// The Feishu app whose bot is in the on-call group.
	FeishuAppID     = "cli_localcloud0feishu01"
	FeishuAppSecret = "localcloudfeishuappsecret0001"
	FeishuChatID    = "oc_localcloud0db0oncall0chat01"
)

// Keywords are the custom keywords the local robots require, one of which
// every message holds: one for English messages, one for Chinese.
var Keywords = []string{DingTalkKeyword, "预检查"}

// Options choose where the emulators listen and how they behave.
type Options struct {
	// Addr is the host:port of each service; "" picks a free loopback port.
	SASAddr, MNSAddr, SlackAddr, DingTalkAddr, FeishuAddr string
	// Seed makes fault injection repeatable.
	Seed int64
	// PrecheckDuration is how long a task started through
	// StartPreCheckDatabase runs (default one minute, as documented).
	PrecheckDuration time.Duration
	// Now is the clock of the Security Center and DingTalk emulators.
	Now func() time.Time
	// SlackHangAfterPost, DingTalkHangAfterDelivery and
	// FeishuHangAfterDelivery make an injected hang lose the answer of a
	// send that succeeded, instead of hanging before anything is done: the
	// ambiguous outcome a client must settle.
	SlackHangAfterPost, DingTalkHangAfterDelivery, FeishuHangAfterDelivery bool
	// VisibilityTimeout is the queues' VisibilityTimeout in seconds; 0
	// keeps MNS's default of 30 s.
	VisibilityTimeout int
	// Fleet is how many databases of a generated fleet
	// (securitycenter.GenerateFleet, seeded by Seed) Security Center holds
	// for backup, for fleet runs.
	Fleet int
	// FeishuAppBot configures the function (Env) to post to Feishu through
	// the app bot instead of the custom bot's webhook; the emulator serves
	// both.
	FeishuAppBot bool
}

// Cloud is a running local cloud.
type Cloud struct {
	SAS      *securitycenter.Server
	MNS      *mns.Server
	Slack    *slack.Server
	DingTalk *dingtalk.Server
	Feishu   *feishu.Server
	// Faults are each service's injector, switchable while running.
	SASFaults, MNSFaults, SlackFaults, DingTalkFaults, FeishuFaults *fault.Injector

	SASURL, MNSURL, SlackURL, DingTalkURL, FeishuURL string

	servers      []*http.Server
	feishuAppBot bool
}

// Start starts every emulator on loopback and creates the queues.
func Start(opts Options) (*Cloud, error) {
	c := &Cloud{
		SASFaults:      fault.New(opts.Seed + 1),
		MNSFaults:      fault.New(opts.Seed + 2),
		SlackFaults:    fault.New(opts.Seed + 3),
		DingTalkFaults: fault.New(opts.Seed + 4),
		FeishuFaults:   fault.New(opts.Seed + 5),
		feishuAppBot:   opts.FeishuAppBot,
	}
	c.SAS = securitycenter.New(securitycenter.Config{
		Accounts:         []securitycenter.Account{{AccessKeyID: AccessKeyID, AccessKeySecret: AccessKeySecret}},
		Faults:           c.SASFaults,
		Now:              opts.Now,
		PrecheckDuration: opts.PrecheckDuration,
	})
	c.SAS.AddSTS(STSAccessKeyID, STSAccessKeySecret, STSToken)
	for _, d := range securitycenter.GenerateFleet(opts.Fleet, uint64(opts.Seed)) {
		c.SAS.AddDatabase(d)
	}
	c.MNS = mns.New(mns.Config{AccessKeys: map[string]string{AccessKeyID: AccessKeySecret}, Faults: c.MNSFaults})
	c.MNS.AddSTSKey(STSAccessKeyID, STSAccessKeySecret, STSToken)
	for _, q := range []string{PendingQueue, DeadLetterQueue, EventDeadLetterQueue} {
		if err := c.MNS.CreateQueue(q, mns.QueueAttributes{VisibilityTimeout: opts.VisibilityTimeout}); err != nil {
			return nil, fmt.Errorf("create queue %s: %w", q, err)
		}
	}
	c.Slack = slack.New(slack.Config{
		Tokens:   []string{SlackToken},
		Channels: []slack.Channel{{ID: SlackChannelID, Name: SlackChannel}},
		Webhooks: []slack.Webhook{{Path: SlackWebhook, Channel: SlackChannelID}},
		Faults:   c.SlackFaults,

		HangAfterPost: opts.SlackHangAfterPost,
	})
	c.DingTalk = dingtalk.New(dingtalk.Config{
		Robots: []dingtalk.Robot{{Name: "db-oncall", Token: DingTalkToken, Secret: DingTalkSecret, Keywords: Keywords}},
		Faults: c.DingTalkFaults,
		Now:    opts.Now,

		HangAfterDelivery: opts.DingTalkHangAfterDelivery,
	})
	c.Feishu = feishu.New(feishu.Config{
		Bots:   []feishu.Bot{{Name: "db-oncall", Token: FeishuToken, Secret: FeishuSecret, Keywords: Keywords}},
		Apps:   []feishu.App{{Name: "db-oncall app", ID: FeishuAppID, Secret: FeishuAppSecret}},
		Chats:  []feishu.Chat{{ID: FeishuChatID, Members: []string{FeishuAppID}}},
		Faults: c.FeishuFaults,
		Now:    opts.Now,

		HangAfterDelivery: opts.FeishuHangAfterDelivery,
	})
	for _, s := range []struct {
		addr string
		h    http.Handler
		url  *string
	}{
		{opts.SASAddr, c.SAS, &c.SASURL},
		{opts.MNSAddr, c.MNS, &c.MNSURL},
		{opts.SlackAddr, c.Slack, &c.SlackURL},
		{opts.DingTalkAddr, c.DingTalk, &c.DingTalkURL},
		{opts.FeishuAddr, c.Feishu, &c.FeishuURL},
	} {
		u, err := c.serve(s.addr, s.h)
		if err != nil {
			c.Close()
			return nil, err
		}
		*s.url = u
	}
	return c, nil
}

func (c *Cloud) serve(addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("local cloud: listen on %s: %w", addr, err)
	}
	// Long polls last up to 30 s; idle connections outlive the MNS SDK's
	// 10 s keep-alive so that it never writes into a closing socket.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
	c.servers = append(c.servers, srv)
	// Serve returns on Shutdown, or when the listener fails, which clients
	// then see as refused connections: nothing to report here.
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops every emulator.
func (c *Cloud) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range c.servers {
		if err := s.Shutdown(ctx); err != nil {
			s.Close()
		}
	}
}

// Env is the function's configuration for this cloud: every SPEC §4
// variable the local cloud serves, and the account's keys.
func (c *Cloud) Env() [][2]string {
	feishuEnv := [][2]string{
		{"FEISHU_WEBHOOK_URL", c.FeishuURL + feishu.HookPath + FeishuToken},
		{"FEISHU_SECRET", FeishuSecret},
	}
	if c.feishuAppBot {
		feishuEnv = [][2]string{
			{"FEISHU_APP_ID", FeishuAppID},
			{"FEISHU_APP_SECRET", FeishuAppSecret},
			{"FEISHU_CHAT_ID", FeishuChatID},
			{"FEISHU_API_URL", c.FeishuURL},
		}
	}
	env := [][2]string{
		{"PRECHECK_QUEUE", PendingQueue},
		{"PRECHECK_DEAD_LETTER_QUEUE", DeadLetterQueue},
		{"MNS_ENDPOINT", c.MNSURL},
		{"SAS_ENDPOINT", c.SASURL},
		{"SLACK_BOT_TOKEN", SlackToken},
		{"SLACK_CHANNEL", SlackChannelID},
		{"SLACK_API_URL", c.SlackURL + "/api/"},
		{"SLACK_WEBHOOK_URL", c.SlackURL + SlackWebhook},
		{"DINGTALK_WEBHOOK_URL", c.DingTalkURL + "/robot/send?access_token=" + DingTalkToken},
		{"DINGTALK_SECRET", DingTalkSecret},
	}
	env = append(env, feishuEnv...)
	return append(env, [][2]string{
		{"FC_REGION", Region},
		{"FC_ACCOUNT_ID", AccountID},
		{"ALIBABA_CLOUD_ACCESS_KEY_ID", AccessKeyID},
		{"ALIBABA_CLOUD_ACCESS_KEY_SECRET", AccessKeySecret},
	}...)
}

// Exports renders Env as shell export lines, quoted for eval.
func (c *Cloud) Exports() string {
	var b strings.Builder
	for _, kv := range c.Env() {
		fmt.Fprintf(&b, "export %s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
	}
	return b.String()
}
