-- claim: ARGV[2] worker, ARGV[3] lease, ARGV[4] max_redeliveries, ARGV[5] retention,
-- ARGV[6..] task ids. Returns per id {'started', task} | {'deferred'} | {'gone'}.
-- A task starts while its type and its key (if it has one) are below their limits
-- and their rates have room; otherwise it is parked (see park_task).
-- The record is read whole once: it decides, and it is the task handed back.
local worker, lease = ARGV[2], tonumber(ARGV[3])
local max_red, retention = tonumber(ARGV[4]), keep(ARGV[5])
local budget = {}
local key_budget = {} -- type/key -> the key's free slots in this call (false: no limit)
local out = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local r = load_all(id)
  local typ, status = r and r.type, r and r.status
  local gone = false
  if not typ or (status ~= 'pending' and status ~= 'processing') then
    gone = true
  elseif status == 'pending' then
    if r.deadline and tonumber(r.deadline) <= NOW then
      terminate(id, r, 'timeout', 'queue timeout', retention)
      gone = true
    elseif r.eta and tonumber(r.eta) > NOW then
      gone = true
    end
  elseif r.lease_until and tonumber(r.lease_until) > NOW then
    gone = true
  elseif r.cancel then -- its worker is gone and it was asked to stop: it must not run again
    terminate(id, r, 'canceled', CANCELED_LOST, retention)
    wake_parked(typ, 1)
    gone = true
  else -- processing under an expired lease: its worker is gone
    local red = tonumber(r.redeliveries or '0') + 1
    write(id, r, {'redeliveries', tostring(red)}, {})
    if red > max_red then
      terminate(id, r, 'failed', 'worker lost ' .. red .. ' times', retention)
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
    -- a task with a key starts only while its key is below its limit too
    local key = key_of(r)
    local slot, key_left = nil, false
    if key then
      slot = typ .. '/' .. key
      if key_budget[slot] == nil then key_budget[slot] = key_free(typ, key) end
      key_left = key_budget[slot]
    end
    local key_full = key_left and key_left <= 0
    local held = (left and left <= 0) or key_full
    if not held and not rate_admit(id, typ, key) then held = true end
    if held then
      -- parked until a slot frees (finish, lease expiry, a raised limit) or its rates
      -- have room (take_due's wake-ups): not handed out by take_due while the type
      -- or the key stays saturated
      local del = {}
      drop(r, del, 'lease_until', 'worker_id')
      if status == 'processing' then -- it started once: no queue timeout any more
        drop(r, del, 'deadline')
        leave_run(id, typ, key)
      end
      move(id, typ, status, 'pending')
      write(id, r, {'status', 'pending', 'parked', '1'}, del)
      redis.call('ZREM', P .. 'pub', id)
      park_task(id, r, key_full)
      out[#out + 1] = {'deferred'}
    else
      if left then budget[typ] = left - 1 end
      if key_left then key_budget[slot] = key_left - 1 end
      local until_ = num(NOW + lease)
      -- started: the queue timeout no longer applies (a later retry must not time out).
      -- A `pub` entry is left behind: take_due drops it when due, as the task is no
      -- longer pending (most tasks have none by now: mark_queued removed it).
      if r.parked then unpark(id, r) end
      if r.deadline then redis.call('ZREM', P .. 'dl', id) end
      local del = {}
      if r.debounced then -- its debounce window ends: the next submit opens a new one
        local windows = P .. 'deb:' .. typ
        local open_ = redis.call('HGET', windows, key or '')
        if open_ and string.sub(open_, 1, #id + 1) == id .. ' ' then
          redis.call('HDEL', windows, key or '')
        end
      end
      drop(r, del, 'parked', 'progress', 'cancel', 'deadline', 'debounced')
      move(id, typ, status, 'processing')
      write(id, r, {'status', 'processing', 'worker_id', worker, 'started_at', NOW_S,
        'updated_at', NOW_S, 'lease_until', until_}, del)
      hold_run(id, typ, key, until_)
      emit(id, r)
      out[#out + 1] = {'started', record_json(r)}
    end
  end
end
return {out, EVENTS}
