-- Shared prelude of every xqueue store script (prepended to each one).
-- KEYS[1] is the app's anchor key (routes the script to the app's slot);
-- ARGV[1] is the key prefix ("{app}:"); the operation's own arguments follow.
-- Time is the Redis server's: one TIME per script, never a client clock.
local P = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) + tonumber(T[2]) / 1000000
local EVENTS_MAX = '__EVENTS_MAX__'
local CANCELED_LOST = 'canceled while running (its worker was lost)'
local EVENTS = {}

local function num(x)
  return string.format('%.17g', x)
end

local function tkey(id)
  return P .. 't:' .. id
end

-- Move a task between status indexes and set its status field.
local function set_status(id, typ, old, new)
  if old == new then return end
  if old then
    redis.call('ZREM', P .. 's:' .. old, id)
    redis.call('ZREM', P .. 'ys:' .. typ .. ':' .. old, id)
  end
  redis.call('ZADD', P .. 's:' .. new, 0, id)
  redis.call('ZADD', P .. 'ys:' .. typ .. ':' .. new, 0, id)
  redis.call('HSET', tkey(id), 'status', new)
end

-- The event describing the task as it is now, as returned to the caller.
local function event_of(id, kind, ts)
  local h = redis.call('HMGET', tkey(id), 'type', 'status', 'retry', 'error', 'progress',
    'worker_id', 'updated_at')
  return {id, h[1], h[2], h[3] or '0', h[4], h[5], h[6], ts or h[7], kind}
end

-- Events go back to the caller as one JSON array each (fewer replies to parse).
local function push_event(e)
  EVENTS[#EVENTS + 1] = cjson.encode(e)
end

-- Record an event: returned by the script and appended to the capped event log.
local function emit(id, kind)
  local e = event_of(id, kind or 'status')
  local args = {'XADD', P .. 'events', 'MAXLEN', '~', EVENTS_MAX, '*',
    'task_id', id, 'type', e[2], 'status', e[3], 'retry', e[4], 'ts', e[8], 'kind', e[9]}
  if e[5] then args[#args + 1] = 'error'; args[#args + 1] = e[5] end
  if e[6] then args[#args + 1] = 'progress'; args[#args + 1] = e[6] end
  if e[7] then args[#args + 1] = 'worker_id'; args[#args + 1] = e[7] end
  redis.call(unpack(args))
  push_event(e)
end

local function set_or_del(key, field, value)
  if value then
    redis.call('HSET', key, field, value)
  else
    redis.call('HDEL', key, field)
  end
end

-- Tokens in use: tasks of the type whose lease is live.
local function running(typ)
  return redis.call('ZCOUNT', P .. 'run:' .. typ, '(' .. num(NOW), '+inf')
end

local function limit_of(typ)
  local v = redis.call('HGET', P .. 'limits', typ)
  if v then return tonumber(v) end
  return nil
end

-- Make up to `count` parked tasks of the type (all when nil) due now, highest priority first.
local function wake_parked(typ, count)
  local stop = -1
  if count then
    if count <= 0 then return end
    stop = count - 1
  end
  local ids = redis.call('ZRANGE', P .. 'park:' .. typ, 0, stop)
  for _, id in ipairs(ids) do
    redis.call('HDEL', tkey(id), 'parked')
    redis.call('ZADD', P .. 'pub', num(NOW), id)
    redis.call('ZREM', P .. 'park:' .. typ, id)
  end
end

-- Put a task in a terminal state: out of every working index, kept for `retention` seconds.
local function terminate(id, status, err, retention, result)
  local k = tkey(id)
  local h = redis.call('HMGET', k, 'type', 'status')
  local typ = h[1]
  set_status(id, typ, h[2], status)
  set_or_del(k, 'error', err)
  redis.call('HSET', k, 'updated_at', num(NOW), 'completed_at', num(NOW),
    'expires_at', num(NOW + retention))
  if status == 'success' then
    set_or_del(k, 'result', result)
    redis.call('HSET', k, 'progress', '1')
  end
  redis.call('HDEL', k, 'deadline', 'lease_until', 'cancel', 'parked')
  redis.call('ZREM', P .. 'dl', id)
  redis.call('ZREM', P .. 'pub', id)
  redis.call('ZREM', P .. 'lease', id)
  redis.call('ZREM', P .. 'run:' .. typ, id)
  redis.call('ZREM', P .. 'park:' .. typ, id)
  redis.call('ZADD', P .. 'exp', num(NOW + retention), id)
  emit(id)
end

-- Back to pending (a retry, a release, a lost run): due at `eta`, or now. The task
-- started once, so its queue timeout no longer applies.
local function to_pending(id, eta, err, retry)
  local k = tkey(id)
  local h = redis.call('HMGET', k, 'type', 'status')
  local typ = h[1]
  set_status(id, typ, h[2], 'pending')
  set_or_del(k, 'eta', eta and num(eta))
  set_or_del(k, 'error', err)
  redis.call('HSET', k, 'retry', retry, 'updated_at', num(NOW))
  redis.call('HDEL', k, 'worker_id', 'lease_until', 'cancel', 'deadline')
  redis.call('ZADD', P .. 'pub', num(eta or NOW), id)
  redis.call('ZREM', P .. 'lease', id)
  redis.call('ZREM', P .. 'run:' .. typ, id)
  redis.call('ZREM', P .. 'dl', id)
  emit(id)
end

-- Pending tasks past their queue timeout become `timeout` (up to `batch` of them).
-- Returns how many deadlines it looked at: `batch` means there may be more.
local function time_out_overdue(retention, batch)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'dl', '-inf', num(NOW), 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    if redis.call('HGET', tkey(id), 'status') == 'pending' then
      terminate(id, 'timeout', 'queue timeout', retention)
    else
      redis.call('ZREM', P .. 'dl', id)
    end
  end
  return #ids
end

-- Safety net behind the wake-ups: wake parked tasks of every type with free tokens.
local function sweep_parked()
  for _, typ in ipairs(redis.call('SMEMBERS', P .. 'tt')) do
    if redis.call('EXISTS', P .. 'park:' .. typ) == 1 then
      local cap = limit_of(typ)
      wake_parked(typ, cap and (cap - running(typ)) or nil)
    end
  end
end

-- Delete a task and every index entry that names it.
local function purge(id)
  local k = tkey(id)
  local h = redis.call('HMGET', k, 'type', 'status', 'idempotency_key')
  local typ, status = h[1], h[2]
  if not typ then return end
  redis.call('DEL', k)
  redis.call('ZREM', P .. 'all', id)
  redis.call('ZREM', P .. 's:' .. status, id)
  redis.call('ZREM', P .. 'y:' .. typ, id)
  redis.call('ZREM', P .. 'ys:' .. typ .. ':' .. status, id)
  for _, z in ipairs({'pub', 'dl', 'lease', 'exp', 'run:' .. typ, 'park:' .. typ}) do
    redis.call('ZREM', P .. z, id)
  end
  if h[3] and redis.call('HGET', P .. 'idem', h[3]) == id then
    redis.call('HDEL', P .. 'idem', h[3])
  end
  if redis.call('EXISTS', P .. 'y:' .. typ) == 0 then
    redis.call('SREM', P .. 'tt', typ)
  end
end

-- A task record as one JSON object of its hash fields (false when there is none).
local function task_json(id)
  local flat = redis.call('HGETALL', tkey(id))
  if #flat == 0 then return false end
  local obj = {}
  for i = 1, #flat, 2 do obj[flat[i]] = flat[i + 1] end
  return cjson.encode(obj)
end
