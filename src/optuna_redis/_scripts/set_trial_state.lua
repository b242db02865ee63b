-- Change a trial's state. RUNNING is only entered from WAITING, so of many workers
-- claiming one WAITING trial exactly one gets 1; a finished trial never changes again.
-- A claim of a WAITING trial by a heartbeat storage is its process's (claim_trial); a
-- finished trial leaves the heartbeats and the claims.
-- A call retried after its reply was lost must give the first run's answer. A claim and a
-- FAIL keep a request token (KEYS[5], for the request TTL): two processes may send them
-- with the same entries. Two claims can carry the same start time, and two processes that
-- judge one trial stale at once (fail_stale_trials) can stamp the same completion time, to
-- the microsecond: by entries alone, both would be told they failed it, and both would
-- retry it. Any other finish comes from the trial's own process (Optuna's tell), so its
-- entries (its values, then its completion time to the microsecond) are its own: a
-- finished trial of that state whose record ends with them holds this very write.
-- KEYS: meta, changes, heartbeats, trial, request, claims, processes (see _keys)
-- ARGV: request TTL in seconds, trial number, new state digit, entries to append (datetime,
--       values), the id of the process claiming it (or '')
-- Returns 1 changed, 0 RUNNING -> RUNNING refused, -1 no trial, -2 finished.
local new = ARGV[3]
local claim = new == '0'
local tokened = claim or new == '3'
if tokened then
  local done = redis.call('GET', KEYS[5])
  if done then
    return tonumber(done)
  end
end
local record = redis.call('GET', KEYS[4])
if not record or record == '' then
  return -1
end
local state = string.sub(record, 1, 1)
if is_finished(state) then
  local entries = ARGV[4]
  if not tokened and state == new and entries ~= '' and string.sub(record, -#entries) == entries then
    return 1
  end
  return -2
end
if new == '0' and state ~= '4' then
  return 0
end
record = new .. string.sub(record, 2) .. ARGV[4]
-- SET rather than SETRANGE + APPEND: a finished record is never written again, and SET
-- stores it without the spare room APPEND leaves behind.
redis.call('SET', KEYS[4], record)
if is_finished(new) then
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('HDEL', KEYS[6], ARGV[2])
elseif new == '0' then
  claim_trial(KEYS[3], KEYS[6], KEYS[7], ARGV[2], ARGV[5])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, ARGV[2])
if tokened then
  redis.call('SET', KEYS[5], 1, 'EX', ARGV[1])
end
return 1
