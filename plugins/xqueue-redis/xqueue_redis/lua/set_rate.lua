-- set_rate: ARGV[2] type, ARGV[3] target ('' the type's own, '*' every key's default,
-- else one key), ARGV[4] rate ("count/period-seconds") or '' to remove it.
-- Keys waiting for their rates are looked at again and parked tasks that fit are
-- woken (a lowered rate applies to the next start).
local typ, target, rate = ARGV[2], ARGV[3], ARGV[4]
local h = P .. 'rates:' .. typ
if rate == '' then
  redis.call('HDEL', h, target)
else
  redis.call('HSET', h, target, rate)
end
RATES[typ] = nil
local has = redis.call('EXISTS', h) == 1
redis.call(has and 'SADD' or 'SREM', P .. 'rated', typ)
if not has then redis.call('DEL', P .. 'rl:' .. typ) end
local pr = P .. 'pr:' .. typ
for _, key in ipairs(redis.call('ZRANGE', pr, 0, -1)) do place_ready(typ, key) end
redis.call('DEL', pr)
MAY_PARK[typ] = nil
if has then redis.call('ZADD', P .. 'rw', NOW_S, typ) end
local cap = limit_of(typ)
wake_parked(typ, cap and (cap - running(typ)) or nil)
return {0, EVENTS}
