-- Delete every key a study owns (after unregister_study took it out of the listing).
-- KEYS: meta, user_attrs, system_attrs, dists, changes, heartbeats, claims, processes
-- ARGV: trial_head
-- Returns 1, or -1 when the study has no keys left.
local n = redis.call('HGET', KEYS[1], 'n')
if not n then
  return -1
end
local batch = {}
for i = 0, tonumber(n) - 1 do
  batch[#batch + 1] = ARGV[1] .. i
  if #batch == 1000 then
    redis.call('UNLINK', unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('UNLINK', unpack(batch))
end
redis.call('UNLINK', unpack(KEYS))
return 1
