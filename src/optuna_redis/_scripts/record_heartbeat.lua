-- Record a heartbeat of a RUNNING trial at the Redis server's clock.
-- KEYS: heartbeats, trial
-- ARGV: trial number
-- Returns 1, 0 when the trial is not RUNNING, -1 when it does not exist.
local state = redis.call('GETRANGE', KEYS[2], 0, 0)
if state == '' then
  return -1
end
if state ~= '0' then
  return 0
end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1e6, ARGV[1])
return 1
