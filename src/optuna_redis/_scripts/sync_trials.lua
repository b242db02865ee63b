-- What changed in a study since a change sequence number, in one round trip.
-- KEYS: meta, changes
-- ARGV: trial_head, since (change seq the caller has seen), max records to return
-- Returns -1 when the study does not exist, else
-- {cursor, n_trials, complete, number1, record1, number2, record2, ...}
-- where the records are those of trials changed after `since`, in change order, and
-- cursor is the seq up to which the caller is now in sync (complete = 1 when that is the
-- study's current seq; else call again from cursor).
local meta = redis.call('HMGET', KEYS[1], 'seq', 'n')
if not meta[1] then
  return -1
end
local seq, n = tonumber(meta[1]), tonumber(meta[2])
local since = tonumber(ARGV[2])
if since >= seq then
  return {seq, n, 1}
end
local changed = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. since, '+inf', 'WITHSCORES',
  'LIMIT', 0, tonumber(ARGV[3]))
local out = {seq, n, 1}
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
