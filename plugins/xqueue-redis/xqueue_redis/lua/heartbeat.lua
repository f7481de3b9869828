-- heartbeat: ARGV[2] worker, ARGV[3] lease, ARGV[4..] task ids.
-- Returns {cancel_requested_ids, lost_ids}. Only a live lease is renewed: once it
-- expired its token counted as free and another run of the type may have started,
-- so reviving it could exceed the limit; the run is reported lost instead.
local worker = ARGV[2]
local until_ = num(NOW + tonumber(ARGV[3]))
local cancel, lost = {}, {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', tkey(id), 'status', 'worker_id', 'cancel', 'type', 'lease_until',
    'key')
  if h[1] == 'processing' and h[2] == worker and tonumber(h[5]) > NOW then
    redis.call('HSET', tkey(id), 'lease_until', until_)
    hold_run(id, h[4], key_of({key = h[6]}), until_)
    if h[3] then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return {{cancel, lost}, EVENTS}
