-- What changed in a study since a change sequence number, in one round trip.
-- KEYS: meta, changes, dists
-- ARGV: trial_head, since (change seq the caller has seen), max records to return,
--       number of distributions the caller knows
-- Returns -1 when the study does not exist, else
-- {cursor, n_trials, complete, dists, number1, record1, number2, record2, ...}
-- where the records are those of trials changed after `since`, in change order; cursor
-- is the seq up to which the caller is now in sync (complete = 1 when that is the
-- study's current seq; else call again from cursor); dists is the study's distributions
-- hash (flat) when it has more entries than the caller knows, else empty.
local meta = redis.call('HMGET', KEYS[1], 'seq', 'n')
if not meta[1] then
  return -1
end
local seq, n = tonumber(meta[1]), tonumber(meta[2])
local dists = {}
if redis.call('HLEN', KEYS[3]) > tonumber(ARGV[4]) then
  dists = redis.call('HGETALL', KEYS[3])
end
local since = tonumber(ARGV[2])
if since >= seq then
  return {seq, n, 1, dists}
end
local changed = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. since, '+inf', 'WITHSCORES',
  'LIMIT', 0, tonumber(ARGV[3]))
local out = {seq, n, 1, dists}
local last = since
for i = 1, #changed, 2 do
  out[#out + 1] = tonumber(changed[i])
  out[#out + 1] = redis.call('GET', ARGV[1] .. changed[i]) or ''
  last = tonumber(changed[i + 1])
end
if last < seq then
  out[1] = last
  out[3] = 0
end
return out
