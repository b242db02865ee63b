-- The records of trials start .. stop - 1 of a study, for a cold load ('' for a missing
-- one). Cheaper to send than the same range as MGET keys.
-- KEYS: meta
-- ARGV: trial_head, start, stop
-- Returns -1 when the study does not exist, else the records in number order.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local out = {}
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) - 1 do
  out[#out + 1] = redis.call('GET', ARGV[1] .. i) or ''
end
return out
