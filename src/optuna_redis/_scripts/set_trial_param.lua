-- Append a param to a trial that is not finished, checking the study's distribution.
-- KEYS: meta, changes, dists, trial
-- ARGV: trial number, param name, distribution JSON,
--       the param entry without the JSON (for the study's own distribution),
--       the param entry with it,
--       the stored distribution the client already checked as compatible (or '')
-- Returns {1}, {-1} no trial, {-2} finished, or {0, stored} when the study holds another
-- distribution under this name, which the client must check before calling again.
local state = redis.call('GETRANGE', KEYS[4], 0, 0)
if state == '' then
  return {-1}
end
if is_finished(state) then
  return {-2}
end
local entry = ARGV[4]
local stored = redis.call('HGET', KEYS[3], ARGV[2])
if not stored then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
elseif stored ~= ARGV[3] then
  if stored ~= ARGV[6] then
    return {0, stored}
  end
  entry = ARGV[5]
end
redis.call('APPEND', KEYS[4], entry)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
return {1}
