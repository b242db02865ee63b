-- Append a chunk of whole trials to a study in one step (optuna-redis copy): numbers
-- continue from the study's trial count, which must be the one the caller expects (else
-- another writer got in between, and nothing is written). Each trial is written as
-- create_trial writes a template trial: its record, a change seq of its own in changes
-- (so a warm cache's sync sees it), and the study's distributions registered first.
-- Nothing is claimed: a copied RUNNING trial belongs to no process of this storage, as a
-- RUNNING template trial created by a storage without heartbeats.
-- KEYS: meta, changes, dists (see _keys)
-- ARGV: trial_head, the expected trial count, n new distributions, then for each: param
--       name, distribution JSON; then the records, one a trial, in number order
-- Returns {1, n_trials}, {-1} when the study does not exist, {-2, n_trials} when the
-- study's trial count is not the expected one, {-3} when it would hold 2**32 trials, or
-- {0, i} when the study holds another distribution under the i-th new name (0-based).
local n = redis.call('HGET', KEYS[1], 'n')
if not n then
  return {-1}
end
n = tonumber(n)
if n ~= tonumber(ARGV[2]) then
  return {-2, n}
end
local n_dists = tonumber(ARGV[3])
local first = 4 + 2 * n_dists
local count = #ARGV - first + 1
if n + count > 4294967296 then
  return {-3}
end
local new = {}
for i = 0, n_dists - 1 do
  local name, json = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  local stored = redis.call('HGET', KEYS[3], name)
  if stored and stored ~= json then
    return {0, i}
  end
  new[#new + 1] = name
  new[#new + 1] = json
end
if #new > 0 then
  redis.call('HSET', KEYS[3], unpack(new))
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local changes = {}
for i = 0, count - 1 do
  redis.call('SET', ARGV[1] .. (n + i), ARGV[first + i])
  changes[#changes + 1] = seq + i + 1
  changes[#changes + 1] = n + i
end
if count > 0 then
  redis.call('ZADD', KEYS[2], unpack(changes))
  redis.call('HSET', KEYS[1], 'n', n + count, 'seq', seq + count)
end
return {1, n + count}
