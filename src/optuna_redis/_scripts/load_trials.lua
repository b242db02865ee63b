-- The records of trials start .. stop - 1 of a study, for a cold load ('' for a missing
-- one). Cheaper to send than the same range as MGET keys.
-- KEYS: meta, dists
-- ARGV: trial_head, start, stop, number of distributions the caller knows
-- Returns -1 when the study does not exist, else {dists, record_start, ...} where dists
-- is the study's distributions hash (flat) when it has more entries than the caller
-- knows, else empty.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local dists = {}
if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[4]) then
  dists = redis.call('HGETALL', KEYS[2])
end
local out = {dists}
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) - 1 do
  out[#out + 1] = redis.call('GET', ARGV[1] .. i) or ''
end
return out
