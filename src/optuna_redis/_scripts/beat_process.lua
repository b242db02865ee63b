-- A process's beat, at the Redis server's clock: the process is alive, and with it every
-- trial it vouches for (see stale_trials).
-- KEYS: meta, processes
-- ARGV: process id
-- Returns 1, or -1 when the study does not exist (any more).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('ZADD', KEYS[2], server_now(), ARGV[1])
return 1
