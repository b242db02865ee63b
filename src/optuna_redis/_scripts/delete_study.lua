-- Delete a study and every key it owns.
-- KEYS: study_names, studies, meta, user_attrs, system_attrs, dists, changes, heartbeats,
--       request (see _keys)
-- ARGV: study_id, trial_head, request TTL in seconds
-- Returns 1, or -1 when the study does not exist.
if redis.call('EXISTS', KEYS[9]) == 1 then
  return 1
end
local meta = redis.call('HMGET', KEYS[3], 'name', 'n')
if not meta[1] then
  return -1
end
local n = tonumber(meta[2])
local batch = {}
for i = 0, n - 1 do
  batch[#batch + 1] = ARGV[2] .. i
  if #batch == 1000 then
    redis.call('UNLINK', unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('UNLINK', unpack(batch))
end
redis.call('UNLINK', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
if redis.call('HGET', KEYS[1], meta[1]) == ARGV[1] then
  redis.call('HDEL', KEYS[1], meta[1])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SET', KEYS[9], 1, 'EX', ARGV[3])
return 1
