-- Create a study under a name that must be new, atomically.
-- KEYS: study_names, studies, study_seq, request (see _keys)
-- ARGV: request TTL in seconds, name, directions, study_head (keys of study ID are study_head .. ID .. "}:...")
-- Returns the new study id, or -1 when the name is taken.
local done = redis.call('GET', KEYS[4])
if done then
  return tonumber(done)
end
local name, dirs, head = ARGV[2], ARGV[3], ARGV[4]
if redis.call('HEXISTS', KEYS[1], name) == 1 then
  return -1
end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], name, id)
redis.call('ZADD', KEYS[2], id, id)
redis.call('HSET', head .. id .. '}:meta', 'name', name, 'dirs', dirs, 'n', 0, 'seq', 0)
redis.call('SET', KEYS[4], id, 'EX', ARGV[1])
return id
