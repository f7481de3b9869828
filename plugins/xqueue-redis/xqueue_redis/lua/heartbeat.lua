-- heartbeat: ARGV[2] worker, ARGV[3] lease, ARGV[4..] task ids.
-- Returns {cancel_requested_ids, lost_ids}.
local worker = ARGV[2]
local until_ = num(NOW + tonumber(ARGV[3]))
local cancel, lost = {}, {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', tkey(id), 'status', 'worker_id', 'cancel', 'type')
  if h[1] == 'processing' and h[2] == worker then
    redis.call('HSET', tkey(id), 'lease_until', until_)
    redis.call('ZADD', P .. 'lease', until_, id)
    redis.call('ZADD', P .. 'run:' .. h[4], until_, id)
    if h[3] then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return {{cancel, lost}, EVENTS}
