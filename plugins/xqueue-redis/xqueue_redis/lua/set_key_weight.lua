-- set_key_weight: ARGV[2] type, ARGV[3] key, ARGV[4] weight ('' or '1': back to 1).
-- kweights:<type> (hash) key -> tasks it takes per round-robin turn; kweighted (set)
-- the types with weights.
local typ, key, weight = ARGV[2], ARGV[3], ARGV[4]
local h = P .. 'kweights:' .. typ
if weight == '' or weight == '1' then
  redis.call('HDEL', h, key)
else
  redis.call('HSET', h, key, weight)
end
redis.call(redis.call('EXISTS', h) == 1 and 'SADD' or 'SREM', P .. 'kweighted', typ)
return {0, EVENTS}
