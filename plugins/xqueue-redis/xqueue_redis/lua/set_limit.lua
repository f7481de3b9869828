-- set_limit: ARGV[2] type, ARGV[3] limit or '' to remove it. Wakes parked tasks that fit.
local typ = ARGV[2]
if ARGV[3] == '' then
  redis.call('HDEL', P .. 'limits', typ)
  wake_parked(typ, nil)
else
  local limit = tonumber(ARGV[3])
  redis.call('HSET', P .. 'limits', typ, limit)
  wake_parked(typ, limit - running(typ))
end
return {0, EVENTS}
