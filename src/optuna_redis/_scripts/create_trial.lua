-- Append a trial to a study: its number is the study's trial count, taken atomically,
-- so numbers are dense, unique, and ordered like trial ids. The params of a template
-- trial are checked against the study's distributions and registered, as
-- set_trial_param does, before anything is written.
-- A RUNNING trial made by a heartbeat storage is claimed for its process (claim_trial).
-- KEYS: meta, changes, dists, request, heartbeats, claims, processes (see _keys)
-- ARGV: request TTL in seconds, trial_head, the record before its params, the record
--       after them, n params, the id of the process claiming it (or ''),
--       then for each param: name, distribution JSON, the entry without the JSON (for
--       the study's own distribution), the entry with it, the stored distribution the
--       client already checked as compatible (or '')
-- Returns {1, number}, {-1} when the study does not exist, {-3} when it is full (trial
-- numbers are 32-bit), or {0, i, stored} when the study holds another distribution
-- under the i-th param's name (0-based), which the client must check before calling
-- again.
local done = redis.call('GET', KEYS[4])
if done then
  return {1, tonumber(done)}
end
local n = redis.call('HGET', KEYS[1], 'n')
if not n then
  return {-1}
end
if tonumber(n) >= 4294967296 then
  return {-3}
end
local parts = {ARGV[3]}
local new = {}
for i = 0, tonumber(ARGV[5]) - 1 do
  local at = 7 + 5 * i
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
parts[#parts + 1] = ARGV[4]
local number = redis.call('HINCRBY', KEYS[1], 'n', 1) - 1
redis.call('SET', ARGV[2] .. number, table.concat(parts))
claim_trial(KEYS[5], KEYS[6], KEYS[7], number, ARGV[6])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, number)
redis.call('SET', KEYS[4], number, 'EX', ARGV[1])
return {1, number}
