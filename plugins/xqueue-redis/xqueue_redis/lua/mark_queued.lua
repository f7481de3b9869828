-- mark_queued: ARGV[2..] task ids whose messages are on the broker.
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', tkey(id), 'status', 'parked', 'eta')
  if h[1] == 'pending' and not h[2] and (not h[3] or tonumber(h[3]) <= NOW) then
    redis.call('ZREM', P .. 'pub', id)
  end
end
return {0, EVENTS}
