-- Append entries to the record of a trial that is not finished (attrs, intermediate
-- values); the state check and the write are one atomic step.
-- KEYS: meta, changes, trial
-- ARGV: trial number, entries
-- Returns 1, -1 when the trial does not exist, -2 when it is finished.
local state = redis.call('GETRANGE', KEYS[3], 0, 0)
if state == '' then
  return -1
end
if is_finished(state) then
  return -2
end
redis.call('APPEND', KEYS[3], ARGV[2])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
return 1
