package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"precheckwatch/precheck"
)

// The records of runs' ends:
//
//	precheckwatch:run:{ID}:tally              hash: database → verdict, beside the run's plan
//	precheckwatch:database:{DB}:last          hash: run, verdict (the last), prevRun, prevVerdict
//	precheckwatch:fleet:{F}:latest            the fleet's latest run (F hashes the fleet)
//	precheckwatch:fleet:{F}:follows:ID        the run ID follows, "" for none
//	precheckwatch:runs:open                   set of the runs tallied and not closed
func tallyKey(run string) string     { return keyPrefix + "run:{" + run + "}:tally" }
func lastKey(database string) string { return keyPrefix + "database:{" + database + "}:last" }
func latestKey(fleet string) string  { return keyPrefix + "fleet:{" + fleetTag(fleet) + "}:latest" }
func followsKey(fleet, run string) string {
	return keyPrefix + "fleet:{" + fleetTag(fleet) + "}:follows:" + run
}

const openRunsKey = keyPrefix + "runs:open"

// fleetTag names a fleet, which is free text, in Redis keys.
func fleetTag(fleet string) string {
	h := sha256.Sum256([]byte(fleet))
	return hex.EncodeToString(h[:16])
}

// tallyScript records the verdict unless the database has one, and
// answers how many the tally holds. KEYS: tally. ARGV: database, verdict,
// retention in seconds.
var tallyScript = script(`
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('HLEN', KEYS[1])
`)

// lastScript makes the verdict the database's last unless it is of the
// same run, keeping the one before, and answers {prevRun, prevVerdict}.
// KEYS: last. ARGV: run, verdict, retention in seconds.
var lastScript = script(`
local r = redis.call('HMGET', KEYS[1], 'run', 'verdict', 'prevRun', 'prevVerdict')
if r[1] ~= ARGV[1] then
  if r[1] then
    redis.call('HSET', KEYS[1], 'prevRun', r[1], 'prevVerdict', r[2])
  else
    redis.call('HDEL', KEYS[1], 'prevRun', 'prevVerdict')
  end
  redis.call('HSET', KEYS[1], 'run', ARGV[1], 'verdict', ARGV[2])
  r[3], r[4] = r[1], r[2]
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {r[3] or '', r[4] or ''}
`)

// followScript answers the run the run follows, recording the fleet's
// latest as it on the first call. KEYS: follows, latest. ARGV: run,
// retention in seconds.
var followScript = script(`
local f = redis.call('GET', KEYS[1])
if f then return f end
local prev = redis.call('GET', KEYS[2]) or ''
if prev == ARGV[1] then prev = '' end
redis.call('SET', KEYS[1], prev, 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return prev
`)

// TallyVerdicts implements Tallies, in one pipelined round trip.
func (r *Redis) TallyVerdicts(ctx context.Context, verdicts []RunVerdict) (Tallied, error) {
	if err := checkVerdicts(verdicts); err != nil {
		return Tallied{}, err
	}
	out := Tallied{Counts: map[string]int{}, Previous: map[string]precheck.Verdict{}}
	if len(verdicts) == 0 {
		return out, nil
	}
	counts := make([]*redis.Cmd, len(verdicts))
	lasts := make([]*redis.Cmd, len(verdicts))
	var runs []any
	// Eval, not EvalSha, as in Recall.
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, v := range verdicts {
			lasts[i] = lastScript().Eval(ctx, p, []string{lastKey(v.Database)}, v.Run, string(v.Verdict), retention)
			counts[i] = tallyScript().Eval(ctx, p, []string{tallyKey(v.Run)}, v.Database, string(v.Verdict), retention)
			if !slices.Contains(runs, any(v.Run)) {
				runs = append(runs, v.Run)
			}
		}
		p.SAdd(ctx, openRunsKey, runs...)
		p.Expire(ctx, openRunsKey, Retention)
		return nil
	})
	if err != nil {
		return Tallied{}, redisError("tally", fmt.Sprintf("%d verdicts", len(verdicts)), err)
	}
	for i, v := range verdicts {
		n, err := counts[i].Int()
		if err != nil {
			return Tallied{}, fmt.Errorf("ledger: tally %s in %s: unexpected reply (%v)", v.Database, v.Run, err)
		}
		out.Counts[v.Run] = max(out.Counts[v.Run], n)
		prev, err := lasts[i].StringSlice()
		if err != nil || len(prev) != 2 {
			return Tallied{}, fmt.Errorf("ledger: last verdict of %s: unexpected reply %v (%v)", v.Database, prev, err)
		}
		if prev[0] != "" {
			out.Previous[v.Database] = precheck.Verdict(prev[1])
		}
	}
	return out, nil
}

// Tally implements Tallies.
func (r *Redis) Tally(ctx context.Context, run string) (map[string]precheck.Verdict, error) {
	if err := checkRunID(run); err != nil {
		return nil, err
	}
	all, err := r.client.HGetAll(ctx, tallyKey(run)).Result()
	if err != nil {
		return nil, redisError("read the tally of", run, err)
	}
	out := make(map[string]precheck.Verdict, len(all))
	for db, v := range all {
		out[db] = precheck.Verdict(v)
	}
	return out, nil
}

// FollowRun implements Tallies.
func (r *Redis) FollowRun(ctx context.Context, fleet, run string) (string, error) {
	if err := checkFleet(fleet); err != nil {
		return "", err
	}
	if err := checkRunID(run); err != nil {
		return "", err
	}
	prev, err := followScript().Run(ctx, r.client, []string{followsKey(fleet, run), latestKey(fleet)}, run, retention).Text()
	if err != nil {
		return "", redisError("follow the fleet's runs with", run, err)
	}
	return prev, nil
}

// OpenRuns implements Tallies.
func (r *Redis) OpenRuns(ctx context.Context) ([]string, error) {
	runs, err := r.client.SMembers(ctx, openRunsKey).Result()
	if err != nil {
		return nil, redisError("list", "open runs", err)
	}
	slices.Sort(runs)
	return runs, nil
}

// CloseRun implements Tallies.
func (r *Redis) CloseRun(ctx context.Context, run string) error {
	if err := checkRunID(run); err != nil {
		return err
	}
	return redisError("close", run, r.client.SRem(ctx, openRunsKey, run).Err())
}
