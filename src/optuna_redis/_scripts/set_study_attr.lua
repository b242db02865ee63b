-- Set one study attribute if the study exists.
-- KEYS: meta, attrs
-- ARGV: field, encoded value
-- Returns 1, or -1 when the study does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
