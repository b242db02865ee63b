-- One trial's record as a flat field/value list (empty when it does not exist).
-- KEYS: trial key
return redis.call('HGETALL', KEYS[1])
