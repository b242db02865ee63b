-- One trial's record, with the study's distributions when the caller may lack some.
-- KEYS: trial, dists
-- ARGV: number of distributions the caller knows
-- Returns {} when the trial does not exist, else {record, dists} where dists is the
-- study's distributions hash (flat) when it has more entries than the caller knows.
local record = redis.call('GET', KEYS[1])
if not record then
  return {}
end
if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[1]) then
  return {record, redis.call('HGETALL', KEYS[2])}
end
return {record, {}}
