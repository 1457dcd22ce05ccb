package preview

import (
	"encoding/json"
	"fmt"
	"time"

	"precheckwatch/notify"
	"precheckwatch/notify/dingtalk"
	"precheckwatch/notify/feishu"
	"precheckwatch/notify/slack"
	"precheckwatch/precheck"
)

// Sample is one message the page shows, as each channel renders it.
type Sample struct {
	// ID names the sample in the page: its element id and data-sample.
	ID string
	// Title says what the sample shows.
	Title string
	// Slack, DingTalk and Feishu are the message as each channel renders it.
	Slack    slack.Content
	DingTalk dingtalk.Content
	Feishu   feishu.Content
}

// The renderers of the samples, with mentions, so the page shows where
// mentions go.
var (
	slackRenderer    = slack.Renderer{Mention: "<!subteam^S0DBAONCALL>"}
	dingTalkRenderer = dingtalk.Renderer{AtMobiles: []string{"13800000000"}, AtUserIDs: []string{"oncall-dba"}}
	feishuRenderer   = feishu.Renderer{AtUserIDs: []string{"ou_oncalldba"}}
)

// renderSample renders one sample on every channel, in lang.
func renderSample(id, title string, lang notify.Lang, render func(notify.Renderer) notify.Message) Sample {
	s, d, f := slackRenderer, dingTalkRenderer, feishuRenderer
	s.Lang, d.Lang, f.Lang = lang, lang, lang
	return Sample{
		ID: id, Title: title,
		Slack:    render(s).Content.(slack.Content),
		DingTalk: render(d).Content.(dingtalk.Content),
		Feishu:   render(f).Content.(feishu.Content),
	}
}

// The samples' fixed clock: the page does not change with the time it is
// served.
var (
	sampleFirstSeen = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	sampleDecidedAt = sampleFirstSeen.Add(4*time.Minute + 12*time.Second)
	samplePolicy    = precheck.Policy{BackoffInitial: 15 * time.Second, BackoffMax: 5 * time.Minute, Deadline: 2 * time.Hour}
)

// Samples renders the fixed set of messages the page shows: one verdict
// per database type (MySQL all PASSED, SQL Server WARNING, Oracle FAILED
// with a result value outside the catalogue), ERROR with a label full of
// markup, TIMED_OUT, a mixed digest, a 200-instance result that must be
// cut short, the "precheck running" notice and the operator alert. Each
// verdict comes from precheck.Decide, as in the function.
func Samples() ([]Sample, error) {
	mysql, err := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0001", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0001",
		DatabaseType: "MYSQL", Label: "orders-db prod",
	}, instance("i-bp1orders0001", "MYSQL", 180, map[string]string{
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": "PASSED", "SERVICE_CONNECTIVITY": "PASSED", "MYSQL_VERSION": "PASSED", "MYSQL_BINLOG": "PASSED",
	}))
	if err != nil {
		return nil, err
	}
	mssql, err := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0002", UniRegionID: "cn-hangzhou", InstanceUUID: "ebc895506c6911ed800000163e0e0002",
		DatabaseType: "MSSQL", Label: "billing-sqlserver prod",
	}, instance("i-wz91if83t97xgtn2", "MSSQL", 190, map[string]string{
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": "PASSED", "SERVICE_CONNECTIVITY": "PASSED",
		"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE": "WARNING", "SQL_SERVER_DB_NOT_ONLINE": "PASSED",
	}))
	if err != nil {
		return nil, err
	}
	oracle, err := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0003", UniRegionID: "cn-shanghai", DatabaseType: "ORACLE", Label: "erp-oracle",
	}, instance("i-uf6erp0001", "ORACLE", 200, map[string]string{
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": "PASSED", "SERVICE_CONNECTIVITY": "PASSED",
		"ORACLE_INSTANCE_STATUS": "PASSED", "ORACLE_DB_STATUS": "PASSED", "ARCHIVELOG": "NOT_ARCHIVELOG",
	}), instance("i-uf6erp0002", "ORACLE", 210, map[string]string{
		"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": "PASSED", "SERVICE_CONNECTIVITY": "PASSED",
		"ORACLE_INSTANCE_STATUS": "PASSED", "ORACLE_DB_STATUS": "WARNING", "ARCHIVELOG": "PASSED",
	}))
	if err != nil {
		return nil, err
	}
	errored, err := decided(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0004", UniRegionID: "cn-hangzhou", DatabaseType: "MYSQL",
		Label: `inventory <script>alert("x")</script> & *staging*`,
	}, precheck.Status{Progress: 40, Description: precheck.DescError}, sampleDecidedAt, 3)
	if err != nil {
		return nil, err
	}
	timedOut, err := decided(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0005", UniRegionID: "ap-southeast-1", DatabaseType: "MSSQL",
	}, precheck.Status{Progress: 60, Description: precheck.DescCreated}, sampleFirstSeen.Add(samplePolicy.Deadline+30*time.Second), 24)
	if err != nil {
		return nil, err
	}
	var fleet []resultInstance
	for i := range 200 {
		binlog := "PASSED"
		if i == 17 || i == 150 {
			binlog = "FAILED"
		}
		fleet = append(fleet, instance(fmt.Sprintf("i-bp1mysql%04d", i), "MYSQL", i, map[string]string{
			"OSS_INTERNAL_ENDPOINT_CONNECTIVITY": "PASSED", "SERVICE_CONNECTIVITY": "PASSED", "MYSQL_VERSION": "PASSED", "MYSQL_BINLOG": binlog,
		}))
	}
	many, err := completed(precheck.Task{
		TaskID: "t-000bc9nqwxsbyvod0007", UniRegionID: "cn-beijing", DatabaseType: "MYSQL", Label: "mysql fleet",
	}, fleet...)
	if err != nil {
		return nil, err
	}

	mixed := []notify.Finished{mysql, mssql, oracle, errored, timedOut}
	alert := notify.Alert{
		Cause: notify.ServiceDenied, Service: notify.SecurityCenter, Code: "NoPermission",
		Detail:   "sas QueryPreCheckDatabase: auth: NoPermission (HTTP 403): caller has no permission",
		Affected: 12,
	}
	var samples []Sample
	for _, lang := range []notify.Lang{notify.English, notify.Chinese} {
		sample := func(id, title string, render func(notify.Renderer) notify.Message) Sample {
			if lang == notify.Chinese {
				id, title = id+"-zh", "中文 · "+title
			}
			return renderSample(id, title, lang, render)
		}
		verdict := func(id, title string, f notify.Finished) Sample {
			return sample(id, title, func(r notify.Renderer) notify.Message { return r.Verdict(f.Task, f.Outcome) })
		}
		samples = append(samples,
			verdict("mysql-passed", "MySQL, every check PASSED", mysql),
			verdict("sqlserver-warning", "SQL Server in SIMPLE recovery: WARNING", mssql),
			verdict("oracle-failed", "Oracle FAILED, with a result value outside the catalogue", oracle),
			verdict("error", "ERROR, with markup in the task's label", errored),
			verdict("timed-out", "TIMED_OUT, no label", timedOut),
		)
		pages := len(slackRenderer.Digest(mixed))
		for i := range pages {
			id, title := "digest-mixed", "Digest of five tasks"
			if pages > 1 {
				id, title = fmt.Sprintf("digest-mixed-%d", i+1), title+fmt.Sprintf(", page %d of %d", i+1, pages)
			}
			samples = append(samples, sample(id, title, func(r notify.Renderer) notify.Message { return r.Digest(mixed)[i].Message }))
		}
		samples = append(samples,
			verdict("truncated-200-instances", "MySQL fleet of 200 instances, cut short to fit", many),
			sample("started", `"Precheck running" notice (Slack threads the verdict under it)`, func(r notify.Renderer) notify.Message { return r.Started(mysql.Task) }),
			sample("operator-alert", "Operator alert: the function cannot do its work", func(r notify.Renderer) notify.Message { return r.OperatorAlert(alert) }),
		)
	}
	return samples, nil
}

// resultInstance is one instance of QueryPreCheckDatabase's Result.
type resultInstance struct {
	InstanceID string       `json:"instanceId"`
	CheckTime  int64        `json:"checkTime"`
	SourceType string       `json:"sourceType"`
	Results    []resultItem `json:"results"`
}

type resultItem struct {
	Item   string `json:"item"`
	Result string `json:"result"`
}

// instance is an instance checked offset seconds after the task was first
// seen, with results in the order Security Center lists them.
func instance(id, source string, offset int, results map[string]string) resultInstance {
	in := resultInstance{InstanceID: id, SourceType: source, CheckTime: sampleFirstSeen.Unix() + int64(offset)}
	for _, code := range []string{"OSS_INTERNAL_ENDPOINT_CONNECTIVITY", "SERVICE_CONNECTIVITY", "MYSQL_VERSION", "MYSQL_BINLOG",
		"SQL_SERVER_DB_IN_SIMPLE_RECOVERY_MODE", "SQL_SERVER_DB_NOT_ONLINE", "ORACLE_INSTANCE_STATUS", "ORACLE_DB_STATUS", "ARCHIVELOG"} {
		if raw, ok := results[code]; ok {
			in.Results = append(in.Results, resultItem{Item: code, Result: raw})
		}
	}
	return in
}

// completed is a task whose precheck completed with the given instances.
func completed(t precheck.Task, instances ...resultInstance) (notify.Finished, error) {
	result, err := json.Marshal(instances)
	if err != nil {
		return notify.Finished{}, err
	}
	return decided(t, precheck.Status{Progress: 100, Description: precheck.DescCompleted, Result: string(result)}, sampleDecidedAt, 5)
}

// decided runs t through precheck.Decide at its attempts-th query at now.
func decided(t precheck.Task, s precheck.Status, now time.Time, attempts int) (notify.Finished, error) {
	t.Attempt = attempts - 1
	f := precheck.Decide(precheck.Facts{Task: t, FirstSeen: sampleFirstSeen, Reply: precheck.Answer(s), Now: now, Jitter: 0.5}, samplePolicy)
	if f.Action != precheck.Deliver {
		return notify.Finished{}, fmt.Errorf("sample task %s: the fate is %v, not a verdict", t.TaskID, f.Action)
	}
	return notify.Finished{Task: f.Task, Outcome: *f.Outcome}, nil
}
