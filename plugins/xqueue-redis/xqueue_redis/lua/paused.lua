-- paused: ARGV[2] type, ARGV[3] '1' to pause it, '' to resume it. Returns {1 when that
-- changed its state (0: it already was so), EVENTS}. A resume wakes the parked tasks
-- of the type that its limit lets start (a pause leaves them parked: claim parks the
-- rest as they come, limit_of being 0).
local typ, key = ARGV[2], P .. 'paused'
if ARGV[3] == '1' then
  return {redis.call('HSETNX', key, typ, NOW_S), EVENTS}
end
if redis.call('HDEL', key, typ) == 0 then return {0, EVENTS} end
local cap = limit_of(typ)
wake_parked(typ, cap and cap - running(typ) or nil)
return {1, EVENTS}
