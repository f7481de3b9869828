-- mark_unqueued: ARGV[2..] task ids whose messages are not on the broker after all (a
-- publish after take_due failed): each pending, unparked one is due for take_due again
-- now, or at its eta if that is later. LT keeps an entry that is due even earlier.
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', tkey(id), 'status', 'parked', 'eta')
  if h[1] == 'pending' and not h[2] then
    local due = NOW
    if h[3] and tonumber(h[3]) > NOW then due = tonumber(h[3]) end
    redis.call('ZADD', P .. 'pub', 'LT', num(due), id)
  end
end
return {0, EVENTS}
