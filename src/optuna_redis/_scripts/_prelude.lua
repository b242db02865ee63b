-- Shared by every script: it is prepended to each one when the scripts are loaded.
-- A record starts with its state's digit (TrialState: 0 RUNNING, 1 COMPLETE, 2 PRUNED,
-- 3 FAIL, 4 WAITING).
local function is_finished(state)
  return state == '1' or state == '2' or state == '3'
end


-- The Redis server's clock, in seconds: every heartbeat and liveness time is taken by it.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end

-- A trial just created or claimed RUNNING is alive from now on: it gets a heartbeat at
-- once, and the process that made it vouches for it until Optuna's heartbeat thread (if
-- any) records its own (see _liveness). An empty process id: a storage without
-- heartbeats, which promises nothing.
local function claim_trial(heartbeats, claims, processes, number, process)
  if process == '' then
    return
  end
  local now = server_now()
  redis.call('ZADD', heartbeats, now, number)
  redis.call('HSET', claims, number, process)
  redis.call('ZADD', processes, now, process)
end
