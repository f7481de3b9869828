-- take_due: ARGV[2] limit, ARGV[3] hold. Returns {id, type, priority} per due task.
-- Only pending tasks that are not parked are handed out; any other entry is dropped
-- (a claim leaves the entry of a task it started; an older version left parked ones).
-- First the rate-limited types whose parked tasks may have room by now (every
-- RATE_WAKE_EVERY seconds per type, whichever process comes): keys whose rates free
-- within the horizon are woken again, then the type's wake-up reserves moments.
local RATE_WAKE_BATCH = 1000
for _, typ in ipairs(redis.call('ZRANGEBYSCORE', P .. 'rw', '-inf', NOW_S)) do
  local pr, park, ready = P .. 'pr:' .. typ, P .. 'park:' .. typ, P .. 'pk:' .. typ
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', pr, '-inf', NOW_S)) do
    redis.call('ZREM', pr, key)
    place_ready(typ, key)
  end
  if not rates_of(typ) or redis.call('EXISTS', park, ready, pr, P .. 'pb:' .. typ) == 0 then
    redis.call('ZREM', P .. 'rw', typ)
  else
    redis.call('ZADD', P .. 'rw', num(NOW + RATE_WAKE_EVERY), typ)
    local cap = limit_of(typ)
    local free = cap and math.min(cap - running(typ), RATE_WAKE_BATCH) or RATE_WAKE_BATCH
    wake_parked(typ, free)
  end
end
-- Stale entries are dropped as they are met and the look goes on past them (up to
-- STALE_SCAN times the limit in all), so a run of stale entries ahead of due tasks
-- does not make a call hand out nothing.
local STALE_SCAN = 4
local limit = tonumber(ARGV[2])
local out, looked = {}, 0
local again = num(NOW + tonumber(ARGV[3]))
while #out < limit and looked < limit * STALE_SCAN do
  local ids = redis.call('ZRANGEBYSCORE', P .. 'pub', '-inf', NOW_S, 'LIMIT', 0, limit - #out)
  if #ids == 0 then break end
  looked = looked + #ids
  for _, id in ipairs(ids) do
    local h = redis.call('HMGET', tkey(id), 'type', 'priority', 'parked', 'status')
    if h[1] and not h[3] and h[4] == 'pending' then
      redis.call('ZADD', P .. 'pub', again, id) -- held: not met again in this loop
      out[#out + 1] = {id, h[1], h[2]}
    else
      redis.call('ZREM', P .. 'pub', id)
    end
  end
  if tonumber(ARGV[3]) <= 0 then break end -- held for no time: it would be met again
end
return {out, EVENTS}
