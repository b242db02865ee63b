-- Numbers of RUNNING trials whose last heartbeat is older than the grace period, by the
-- Redis server's clock.
-- KEYS: heartbeats
-- ARGV: trial_head, grace period in seconds
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local numbers = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
local stale = {}
for _, number in ipairs(numbers) do
  if redis.call('GETRANGE', ARGV[1] .. number, 0, 0) == '0' then
    stale[#stale + 1] = tonumber(number)
  end
end
return stale
