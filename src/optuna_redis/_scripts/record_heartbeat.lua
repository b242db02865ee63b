-- Record a heartbeat of a RUNNING trial at the Redis server's clock. From its first
-- heartbeat on, a trial is judged by its heartbeats alone: its process's claim ends.
-- KEYS: heartbeats, trial, claims
-- ARGV: trial number
-- Returns 1, 0 when the trial is not RUNNING, -1 when it does not exist.
local state = redis.call('GETRANGE', KEYS[2], 0, 0)
if state == '' then
  return -1
end
if state ~= '0' then
  return 0
end
redis.call('ZADD', KEYS[1], server_now(), ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
