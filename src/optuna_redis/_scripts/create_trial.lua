-- Append a trial to a study: its number is the study's trial count, taken atomically,
-- so numbers are dense, unique, and ordered like trial ids. The params of a template
-- trial are checked against the study's distributions and registered, as
-- set_trial_param does, before anything is written.
-- KEYS: meta, changes, dists
-- ARGV: trial_head, the record before its params, the record after them, n params,
--       then for each param: name, distribution JSON, the entry without the JSON (for
--       the study's own distribution), the entry with it, the stored distribution the
--       client already checked as compatible (or '')
-- Returns {1, number}, {-1} when the study does not exist, or {0, i, stored} when the
-- study holds another distribution under the i-th param's name (0-based), which the
-- client must check before calling again.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local parts = {ARGV[2]}
local new = {}
for i = 0, tonumber(ARGV[4]) - 1 do
  local at = 5 + 5 * i
  local name, json = ARGV[at], ARGV[at + 1]
  local stored = redis.call('HGET', KEYS[3], name)
  if not stored then
    new[#new + 1] = name
    new[#new + 1] = json
    parts[#parts + 1] = ARGV[at + 2]
  elseif stored == json then
    parts[#parts + 1] = ARGV[at + 2]
  elseif stored == ARGV[at + 4] then
    parts[#parts + 1] = ARGV[at + 3]
  else
    return {0, i, stored}
  end
end
if #new > 0 then
  redis.call('HSET', KEYS[3], unpack(new))
end
parts[#parts + 1] = ARGV[3]
local number = redis.call('HINCRBY', KEYS[1], 'n', 1) - 1
redis.call('SET', ARGV[1] .. number, table.concat(parts))
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, number)
return {1, number}
