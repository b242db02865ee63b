-- Register a new study's name and id (its meta was written, in its own slot, before).
-- Touches only the keys shared by all studies, which live in one cluster slot.
-- KEYS: study_names, studies, request (see _keys)
-- ARGV: request TTL in seconds, name, study id
-- Returns 1, or -1 when the name is taken.
local done = redis.call('GET', KEYS[3])
if done then
  return tonumber(done)
end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3])
redis.call('SET', KEYS[3], 1, 'EX', ARGV[1])
return 1
