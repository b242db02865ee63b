-- Append a trial to a study: its number is the study's trial count, taken atomically,
-- so numbers are dense, unique, and ordered like trial ids.
-- KEYS: meta, changes
-- ARGV: trial_head, record
-- Returns the new trial's number, or -1 when the study does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local number = redis.call('HINCRBY', KEYS[1], 'n', 1) - 1
redis.call('SET', ARGV[1] .. number, ARGV[2])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, number)
return number
