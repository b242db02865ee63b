-- Unregister a study: drop it from the listing and free its name (its keys are deleted
-- next, in its own slot). Touches only the keys shared by all studies.
-- KEYS: study_names, studies, request (see _keys)
-- ARGV: request TTL in seconds, study id, name
-- Returns 1, or -1 when the study is not registered.
local done = redis.call('GET', KEYS[3])
if done then
  return tonumber(done)
end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then
  return -1
end
if redis.call('HGET', KEYS[1], ARGV[3]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[3])
end
redis.call('SET', KEYS[3], 1, 'EX', ARGV[1])
return 1
