-- Change a trial's state (and values). RUNNING is only entered from WAITING, so of many
-- workers claiming one WAITING trial exactly one gets 1; a finished trial never changes.
-- KEYS: meta, changes, heartbeats
-- ARGV: trial key, trial number, new state digit, client time (isoformat), values or '',
--       '1' when values are given
-- Returns 1 changed, 0 RUNNING -> RUNNING refused, -1 no trial, -2 finished.
local key, number, new = ARGV[1], ARGV[2], ARGV[3]
local state = redis.call('HGET', key, 'st')
if not state then
  return -1
end
if state == '1' or state == '2' or state == '3' then
  return -2
end
if new == '0' and state ~= '4' then
  return 0
end
redis.call('HSET', key, 'st', new)
if ARGV[6] == '1' then
  redis.call('HSET', key, 'v', ARGV[5])
end
if new == '0' then
  redis.call('HSET', key, 'ds', ARGV[4])
elseif new == '1' or new == '2' or new == '3' then
  redis.call('HSET', key, 'dc', ARGV[4])
  redis.call('ZREM', KEYS[3], number)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, number)
return 1
