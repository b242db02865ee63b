-- Set a param of a trial that is not finished, checking the study's distribution.
-- KEYS: meta, changes, dists
-- ARGV: trial key, trial number, param name, distribution JSON,
--       value payload (8-byte double .. distribution JSON),
--       the stored distribution the client already checked as compatible (or '')
-- Returns {1}, {-1} no trial, {-2} finished, or {0, stored} when the study holds another
-- distribution for this name that the client must check before calling again.
local state = redis.call('HGET', ARGV[1], 'st')
if not state then
  return {-1}
end
if state == '1' or state == '2' or state == '3' then
  return {-2}
end
local name, dist = ARGV[3], ARGV[4]
local stored = redis.call('HGET', KEYS[3], name)
if not stored then
  redis.call('HSET', KEYS[3], name, dist)
elseif stored ~= dist and stored ~= ARGV[6] then
  return {0, stored}
end
local field = 'p:' .. name
local old = redis.call('HGET', ARGV[1], field)
local ordinal
if old then
  ordinal = string.sub(old, 1, 4)
else
  ordinal = struct.pack('<I4', redis.call('HINCRBY', ARGV[1], 'np', 1) - 1)
end
redis.call('HSET', ARGV[1], field, ordinal .. ARGV[5])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, ARGV[2])
return {1}
