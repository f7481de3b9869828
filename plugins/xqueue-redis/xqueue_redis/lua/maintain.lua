-- maintain: ARGV[2] max_redeliveries, ARGV[3] retention, ARGV[4] batch size.
-- Queue timeouts, expired leases, retention, then wakes parked tasks of types with free
-- tokens; returns the events (purges included).
local max_red, retention, batch = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = num(NOW)
time_out_overdue(retention, batch)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'lease', '-inf', now, 'LIMIT', 0, batch)) do
  local h = redis.call('HMGET', tkey(id), 'status', 'type', 'redeliveries', 'error', 'retry',
    'cancel')
  if h[1] == 'processing' then
    local red = tonumber(h[3] or '0') + 1
    redis.call('HSET', tkey(id), 'redeliveries', red)
    if h[6] then -- its worker is gone and it was asked to stop: it must not run again
      terminate(id, 'canceled', CANCELED_LOST, retention)
    elseif red > max_red then
      terminate(id, 'failed', 'worker lost ' .. red .. ' times', retention)
    else
      to_pending(id, nil, h[4] or nil, tonumber(h[5]))
    end
    wake_parked(h[2], 1)
  else
    redis.call('ZREM', P .. 'lease', id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, batch)) do
  local e = event_of(id, 'purged', now)
  if e[2] then
    push_event(e)
    purge(id)
  else
    redis.call('ZREM', P .. 'exp', id)
  end
end
sweep_parked()
return {0, EVENTS}
