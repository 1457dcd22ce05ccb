package ledger

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A run's records share the hash tag {run id}, so that one script may
// claim, start or void a member's start atomically:
//
//	precheckwatch:run:{ID}:plan      the plan (JSON), written once
//	precheckwatch:run:{ID}:starts    hash: database → "" (attempted) or its task id
//	precheckwatch:run:{ID}:lease:DB  the start's holder's token, for the lease TTL
//	precheckwatch:run:{ID}:enqueued  set: the databases whose task is on the queue
//	precheckwatch:task:{TASK}:run    the task's Membership (JSON), beside its task record
func runPlanKey(id string) string   { return keyPrefix + "run:{" + id + "}:plan" }
func runStartsKey(id string) string { return keyPrefix + "run:{" + id + "}:starts" }
func runLeaseKey(id, database string) string {
	return keyPrefix + "run:{" + id + "}:lease:" + database
}
func runEnqueuedKey(id string) string    { return keyPrefix + "run:{" + id + "}:enqueued" }
func membershipKey(taskID string) string { return keyPrefix + "task:{" + taskID + "}:run" }

// planScript writes the plan unless there is one, and answers the
// recorded one. KEYS: plan. ARGV: plan, retention in seconds.
var planScript = script(`
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
return redis.call('GET', KEYS[1])
`)

// claimStartScript answers {'started', task}, {'busy'} or {'unsure'}, or
// records the attempt, takes the lease and answers {'claimed'}. Finding its
// own token makes a retried call answer claimed again.
// KEYS: starts, lease. ARGV: database, token, lease TTL in milliseconds,
// retention in seconds.
var claimStartScript = script(`
local s = redis.call('HGET', KEYS[1], ARGV[1])
if s and s ~= '' then return {'started', s} end
if s then
  local holder = redis.call('GET', KEYS[2])
  if holder == ARGV[2] then return {'claimed'} end
  if holder then return {'busy'} end
  return {'unsure'}
end
redis.call('HSET', KEYS[1], ARGV[1], '')
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {'claimed'}
`)

// startedScript records the member's task unless one is recorded, and
// drops the lease the caller's token still holds.
// KEYS: starts, lease. ARGV: database, task, token, retention in seconds.
var startedScript = script(`
local s = redis.call('HGET', KEYS[1], ARGV[1])
if not s or s == '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
`)

// voidStartScript forgets an attempt that started nothing, and drops the
// lease the caller's token still holds. KEYS: starts, lease. ARGV:
// database, token.
var voidStartScript = script(`
if redis.call('HGET', KEYS[1], ARGV[1]) == '' then redis.call('HDEL', KEYS[1], ARGV[1]) end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
`)

// planWire is a plan as Redis keeps it.
type planWire struct {
	ID        string       `json:"id"`
	Fleet     string       `json:"fleet,omitempty"`
	PlannedAt int64        `json:"plannedAt"` // Unix ms
	Members   []memberWire `json:"members"`
}

type memberWire struct {
	Database     string `json:"database"`
	Name         string `json:"name,omitempty"`
	DatabaseType string `json:"databaseType,omitempty"`
	UniRegionID  string `json:"uniRegionId,omitempty"`
	InstanceUUID string `json:"instanceUuid,omitempty"`
}

func encodePlan(p Run) (string, error) {
	w := planWire{ID: p.ID, Fleet: p.Fleet, PlannedAt: p.PlannedAt.UnixMilli(), Members: make([]memberWire, len(p.Members))}
	for i, m := range p.Members {
		w.Members[i] = memberWire{Database: m.Database, Name: m.Name, DatabaseType: m.DatabaseType, UniRegionID: m.UniRegionID, InstanceUUID: m.InstanceUUID}
	}
	b, err := json.Marshal(w)
	return string(b), err
}

func decodePlan(s string) (Run, error) {
	var w planWire
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return Run{}, fmt.Errorf("unreadable run plan: %w", err)
	}
	p := Run{ID: w.ID, Fleet: w.Fleet, PlannedAt: time.UnixMilli(w.PlannedAt).UTC(), Members: make([]Member, len(w.Members))}
	for i, m := range w.Members {
		p.Members[i] = Member{Database: m.Database, Name: m.Name, DatabaseType: m.DatabaseType, UniRegionID: m.UniRegionID, InstanceUUID: m.InstanceUUID}
	}
	return p, nil
}

// PlanRun implements Runs.
func (r *Redis) PlanRun(ctx context.Context, run Run) (Run, error) {
	if err := checkPlan(run); err != nil {
		return Run{}, err
	}
	body, err := encodePlan(planOf(run, time.Now()))
	if err != nil {
		return Run{}, fmt.Errorf("ledger: encode plan of run %s: %w", run.ID, err)
	}
	recorded, err := planScript().Run(ctx, r.client, []string{runPlanKey(run.ID)}, body, retention).Text()
	if err != nil {
		return Run{}, redisError("plan", "run "+run.ID, err)
	}
	p, err := decodePlan(recorded)
	if err != nil {
		return Run{}, fmt.Errorf("ledger: run %s: %w", run.ID, err)
	}
	return p, nil
}

// Run implements Runs, in two round trips: the plan and the starts, then
// the leases of the starts attempted but not recorded.
func (r *Redis) Run(ctx context.Context, id string) (Run, bool, error) {
	if err := checkRunID(id); err != nil {
		return Run{}, false, err
	}
	var plan *redis.StringCmd
	var starts *redis.MapStringStringCmd
	var enqueued *redis.StringSliceCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		plan = p.Get(ctx, runPlanKey(id))
		starts = p.HGetAll(ctx, runStartsKey(id))
		enqueued = p.SMembers(ctx, runEnqueuedKey(id))
		return nil
	})
	switch {
	case starts.Err() != nil:
		return Run{}, false, redisError("read starts of", "run "+id, starts.Err())
	case enqueued.Err() != nil:
		return Run{}, false, redisError("read enqueued tasks of", "run "+id, enqueued.Err())
	case errors.Is(plan.Err(), redis.Nil):
		return Run{}, false, nil
	case err != nil:
		return Run{}, false, redisError("read", "run "+id, err)
	}
	run, err := decodePlan(plan.Val())
	if err != nil {
		return Run{}, false, fmt.Errorf("ledger: run %s: %w", id, err)
	}
	queued := map[string]bool{}
	for _, db := range enqueued.Val() {
		queued[db] = true
	}
	var attempted []int
	for i, m := range run.Members {
		task, ok := starts.Val()[m.Database]
		switch {
		case !ok:
		case task != "":
			run.Members[i].Start, run.Members[i].TaskID, run.Members[i].Enqueued = Started, task, queued[m.Database]
		default:
			attempted = append(attempted, i)
		}
	}
	if len(attempted) == 0 {
		return run, true, nil
	}
	held := make([]*redis.IntCmd, len(attempted))
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range attempted {
			held[j] = p.Exists(ctx, runLeaseKey(id, run.Members[i].Database))
		}
		return nil
	})
	if err != nil {
		return Run{}, false, redisError("read start leases of", "run "+id, err)
	}
	for j, i := range attempted {
		run.Members[i].Start = Unsure
		if held[j].Val() > 0 {
			run.Members[i].Start = Starting
		}
	}
	return run, true, nil
}

// ClaimStart implements Runs.
func (r *Redis) ClaimStart(ctx context.Context, run, database string, ttl time.Duration) (StartClaim, error) {
	if err := checkStart(run, database); err != nil {
		return StartClaim{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return StartClaim{}, err
	}
	token := rand.Text()
	reply, err := claimStartScript().Run(ctx, r.client, []string{runStartsKey(run), runLeaseKey(run, database)},
		database, token, ttl.Milliseconds(), retention).Slice()
	if err != nil {
		return StartClaim{}, redisError("claim start of", database+" in run "+run, err)
	}
	if len(reply) == 0 {
		return StartClaim{}, fmt.Errorf("ledger: claim start of %s in run %s: empty reply", database, run)
	}
	switch reply[0] {
	case "claimed":
		return StartClaim{State: StartClaimed, Lease: StartLease{Run: run, Database: database, token: token}}, nil
	case "busy":
		return StartClaim{State: Starting}, nil
	case "unsure":
		return StartClaim{State: Unsure}, nil
	case "started":
		if len(reply) == 2 {
			return StartClaim{State: Started, TaskID: fmt.Sprint(reply[1])}, nil
		}
	}
	return StartClaim{}, fmt.Errorf("ledger: claim start of %s in run %s: unexpected reply %v", database, run, reply)
}

// NoteStarted implements Runs, in one pipelined round trip: the task's
// membership first (it lives in the task's slot), then the run's record.
func (r *Redis) NoteStarted(ctx context.Context, lease StartLease, taskID string) error {
	if err := checkStartLease(lease); err != nil {
		return err
	}
	if err := checkTasks([]string{taskID}); err != nil {
		return err
	}
	mb, err := json.Marshal(membershipWire{Run: lease.Run, Database: lease.Database})
	if err != nil {
		return fmt.Errorf("ledger: encode membership of %s: %w", taskID, err)
	}
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, membershipKey(taskID), mb, Retention)
		startedScript().Eval(ctx, p, []string{runStartsKey(lease.Run), runLeaseKey(lease.Run, lease.Database)},
			lease.Database, taskID, lease.token, retention)
		return nil
	})
	return redisError("note start of", lease.Database+" in run "+lease.Run, err)
}

// VoidStart implements Runs.
func (r *Redis) VoidStart(ctx context.Context, lease StartLease) error {
	if err := checkStartLease(lease); err != nil {
		return err
	}
	err := voidStartScript().Run(ctx, r.client, []string{runStartsKey(lease.Run), runLeaseKey(lease.Run, lease.Database)},
		lease.Database, lease.token).Err()
	return redisError("void start of", lease.Database+" in run "+lease.Run, err)
}

// NoteEnqueued implements Runs. Only a started member is marked: the set
// is read against the starts.
func (r *Redis) NoteEnqueued(ctx context.Context, run string, databases []string) error {
	if err := checkDatabases(run, databases); err != nil {
		return err
	}
	if len(databases) == 0 {
		return nil
	}
	members := make([]any, len(databases))
	for i, db := range databases {
		members[i] = db
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, runEnqueuedKey(run), members...)
		p.Expire(ctx, runEnqueuedKey(run), Retention)
		return nil
	})
	return redisError("note enqueued tasks of", fmt.Sprintf("%d databases in run %s", len(databases), run), err)
}

type membershipWire struct {
	Run      string `json:"run"`
	Database string `json:"database"`
}

// Memberships implements Runs, in one pipelined round trip.
func (r *Redis) Memberships(ctx context.Context, taskIDs []string) (map[string]Membership, error) {
	if err := checkTasks(taskIDs); err != nil {
		return nil, err
	}
	out := map[string]Membership{}
	if len(taskIDs) == 0 {
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(taskIDs))
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range taskIDs {
			cmds[i] = p.Get(ctx, membershipKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisError("read memberships of", strconv.Itoa(len(taskIDs))+" tasks", err)
	}
	for i, c := range cmds {
		if errors.Is(c.Err(), redis.Nil) {
			continue
		}
		var w membershipWire
		if err := json.Unmarshal([]byte(c.Val()), &w); err != nil {
			return nil, fmt.Errorf("ledger: unreadable membership of task %s: %w", taskIDs[i], err)
		}
		out[taskIDs[i]] = Membership(w)
	}
	return out, nil
}
