-- take_due: ARGV[2] limit, ARGV[3] hold. Returns {id, type, priority} per due task.
-- Only pending tasks that are not parked are handed out; any other entry is dropped
-- (a claim leaves the entry of a task it started; an older version left parked ones).
local ids = redis.call('ZRANGEBYSCORE', P .. 'pub', '-inf', NOW_S, 'LIMIT', 0, ARGV[2])
local out = {}
local again = num(NOW + tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', tkey(id), 'type', 'priority', 'parked', 'status')
  if h[1] and not h[3] and h[4] == 'pending' then
    redis.call('ZADD', P .. 'pub', again, id)
    out[#out + 1] = {id, h[1], h[2]}
  else
    redis.call('ZREM', P .. 'pub', id)
  end
end
return {out, EVENTS}
