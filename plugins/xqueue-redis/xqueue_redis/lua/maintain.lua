-- maintain: ARGV[2] max_redeliveries, ARGV[3] retention, ARGV[4] batch size.
-- Queue timeouts, expired leases (per type: a type's token set holds its running
-- tasks by lease expiry), retention, then wakes parked tasks of types with free
-- tokens; returns the events (purges included).
local max_red, retention, batch = tonumber(ARGV[2]), keep(ARGV[3]), ARGV[4]
time_out_overdue(retention, batch)
local types = redis.call('SMEMBERS', P .. 'tt')
for _, typ in ipairs(types) do
  local run = P .. 'run:' .. typ
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', run, '-inf', NOW_S, 'LIMIT', 0, batch)) do
    local r = load(id)
    if r and r.status == 'processing' and r.type == typ then
      local red = tonumber(r.redeliveries or '0') + 1
      write(id, r, {'redeliveries', tostring(red)}, {})
      if r.cancel then -- its worker is gone and it was asked to stop: it must not run again
        terminate(id, r, 'canceled', CANCELED_LOST, retention)
      elseif red > max_red then
        terminate(id, r, 'failed', 'worker lost ' .. red .. ' times', retention)
      else
        to_pending(id, r, nil, r.error, tonumber(r.retry))
      end
      wake_parked(typ, 1)
    else
      redis.call('ZREM', run, id)
    end
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', NOW_S, 'LIMIT', 0, batch)) do
  local r = load(id)
  if r then
    push_event(event_of(id, r, 'purged'))
    purge(id, r)
  else
    redis.call('ZREM', P .. 'exp', id)
  end
end
sweep_parked(types) -- a type with parked tasks has tasks: no purge took it out
return {0, EVENTS}
