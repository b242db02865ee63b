-- Set fields of a trial that is not finished (attrs, intermediate values).
-- KEYS: meta, changes
-- ARGV: trial key, trial number, then field/value pairs
-- Returns 1, -1 when the trial does not exist, -2 when it is finished.
local state = redis.call('HGET', ARGV[1], 'st')
if not state then
  return -1
end
if state == '1' or state == '2' or state == '3' then
  return -2
end
redis.call('HSET', ARGV[1], unpack(ARGV, 3))
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, ARGV[2])
return 1
