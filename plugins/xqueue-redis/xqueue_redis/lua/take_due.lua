-- take_due: ARGV[2] limit, ARGV[3] hold. Returns {id, type, priority} per due task.
-- Parked tasks are never in `pub` (an entry left by an older version is dropped).
local ids = redis.call('ZRANGEBYSCORE', P .. 'pub', '-inf', num(NOW), 'LIMIT', 0, ARGV[2])
local out = {}
local again = num(NOW + tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', tkey(id), 'type', 'priority', 'parked')
  if h[1] and not h[3] then
    redis.call('ZADD', P .. 'pub', again, id)
    out[#out + 1] = {id, h[1], h[2]}
  else
    redis.call('ZREM', P .. 'pub', id)
  end
end
return {out, EVENTS}
