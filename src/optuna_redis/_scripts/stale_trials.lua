-- Numbers of the RUNNING trials that are stale, by the Redis server's clock: the trial's
-- last heartbeat (or its creation or claim, see claim_trial) is older than the grace
-- period, and no live process vouches for it. A process vouches for the trials it
-- claimed and that have had no heartbeat of their own since; it is live while its last
-- beat (beat_process) is within the grace period.
-- KEYS: heartbeats, claims, processes
-- ARGV: trial_head, grace period in seconds
local now = server_now()
local cutoff = now - tonumber(ARGV[2])
-- A process silent for a day (or ten grace periods) is gone for good: forget it.
local forgotten = now - math.max(86400, 10 * tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. forgotten)
local numbers = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff)
local stale = {}
for _, number in ipairs(numbers) do
  if redis.call('GETRANGE', ARGV[1] .. number, 0, 0) == '0' then
    local process = redis.call('HGET', KEYS[2], number)
    local seen = process and redis.call('ZSCORE', KEYS[3], process)
    if not seen or tonumber(seen) < cutoff then
      stale[#stale + 1] = tonumber(number)
    end
  end
end
return stale
