-- claim: ARGV[2] worker, ARGV[3] lease, ARGV[4] max_redeliveries, ARGV[5] retention,
-- ARGV[6..] task ids. Returns per id {'started', task} | {'deferred'} | {'gone'}.
local worker, lease = ARGV[2], tonumber(ARGV[3])
local max_red, retention = tonumber(ARGV[4]), tonumber(ARGV[5])
local budget = {}
local out = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local k = tkey(id)
  local h = redis.call('HMGET', k, 'type', 'status', 'deadline', 'eta', 'lease_until',
    'redeliveries', 'priority', 'cancel')
  local typ, status = h[1], h[2]
  local gone = false
  if not typ or (status ~= 'pending' and status ~= 'processing') then
    gone = true
  elseif status == 'pending' then
    if h[3] and tonumber(h[3]) <= NOW then
      terminate(id, 'timeout', 'queue timeout', retention)
      gone = true
    elseif h[4] and tonumber(h[4]) > NOW then
      gone = true
    end
  elseif h[5] and tonumber(h[5]) > NOW then
    gone = true
  elseif h[8] then -- its worker is gone and it was asked to stop: it must not run again
    terminate(id, 'canceled', CANCELED_LOST, retention)
    wake_parked(typ, 1)
    gone = true
  else -- processing under an expired lease: its worker is gone
    local red = tonumber(h[6] or '0') + 1
    redis.call('HSET', k, 'redeliveries', red)
    if red > max_red then
      terminate(id, 'failed', 'worker lost ' .. red .. ' times', retention)
      gone = true
    end
  end
  if gone then
    out[#out + 1] = {'gone'}
  else
    if budget[typ] == nil then
      local cap = limit_of(typ)
      budget[typ] = cap and (cap - running(typ)) or false
    end
    local left = budget[typ]
    if left and left <= 0 then
      -- parked until a token frees (finish, lease expiry, a raised limit): not handed
      -- out by take_due while the type stays saturated
      set_status(id, typ, status, 'pending')
      redis.call('HSET', k, 'parked', '1')
      redis.call('HDEL', k, 'lease_until', 'worker_id')
      if status == 'processing' then redis.call('HDEL', k, 'deadline') end -- it started once
      redis.call('ZREM', P .. 'pub', id)
      redis.call('ZREM', P .. 'lease', id)
      redis.call('ZREM', P .. 'run:' .. typ, id)
      redis.call('ZADD', P .. 'park:' .. typ, -tonumber(h[7] or '0'), id)
      out[#out + 1] = {'deferred'}
    else
      if left then budget[typ] = left - 1 end
      local until_ = num(NOW + lease)
      set_status(id, typ, status, 'processing')
      redis.call('HSET', k, 'worker_id', worker, 'started_at', num(NOW), 'updated_at', num(NOW),
        'lease_until', until_)
      -- started: the queue timeout no longer applies (a later retry must not time out)
      redis.call('HDEL', k, 'parked', 'progress', 'cancel', 'deadline')
      redis.call('ZREM', P .. 'pub', id)
      redis.call('ZREM', P .. 'park:' .. typ, id)
      redis.call('ZREM', P .. 'dl', id)
      redis.call('ZADD', P .. 'lease', until_, id)
      redis.call('ZADD', P .. 'run:' .. typ, until_, id)
      emit(id)
      out[#out + 1] = {'started', task_json(id)}
    end
  end
end
return {out, EVENTS}
