-- Shared prelude of every xqueue store script (prepended to each one).
-- KEYS[1] is the app's anchor key (routes the script to the app's slot);
-- ARGV[1] is the key prefix ("{app}:"); the operation's own arguments follow.
-- Time is the Redis server's: one TIME per script, never a client clock.
--
-- Cost rule: Redis time per task bounds every worker's throughput, so a transition
-- reads the record once (its fields say which indexes hold the task), writes it with
-- one HSET (plus one HDEL only for fields that are there) and touches only the
-- indexes the task is in. A record is a Lua table of its hash fields (`r`), kept
-- up to date by the transition so the event is built without reading it back.
local P = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) + tonumber(T[2]) / 1000000
local EVENTS_MAX = '__EVENTS_MAX__'
local CANCELED_LOST = 'canceled while running (its worker was lost)'
local DONE_TTL = 60 -- seconds a task's end notice (`done:{id}`) is kept for its waiters
local STATUSES = {'pending', 'processing', 'success', 'failed', 'timeout', 'canceled'}
local EVENTS = {}

local function num(x)
  return string.format('%.17g', x)
end

local NOW_S = num(NOW)

local function tkey(id)
  return P .. 't:' .. id
end

-- The fields a transition may look at (the payload and result text are not read).
-- Each field read costs Redis time (HMGET looks each one up, and the reply becomes
-- Lua strings): a finish reads only what ending or retrying a run needs. A task
-- being processed has no `deadline` and no `parked` (the claim that started it
-- removed them) but always a `worker_id` and a `lease_until`.
local FIELDS = {'type', 'status', 'retry', 'error', 'progress', 'worker_id', 'deadline',
  'parked', 'cancel', 'eta', 'lease_until', 'redeliveries', 'priority', 'idempotency_key',
  'waited'}
local FINISH_FIELDS = {'type', 'status', 'retry', 'error', 'progress', 'worker_id', 'cancel',
  'waited'}

-- The record's FIELDS (or those given) as a table (nil when there is no such task).
local function load(id, fields)
  fields = fields or FIELDS
  local v = redis.call('HMGET', tkey(id), unpack(fields))
  if not v[1] then return nil end
  local r = {}
  for i, name in ipairs(fields) do
    if v[i] then r[name] = v[i] end
  end
  return r
end

-- The whole record as a table (nil when there is no such task).
local function load_all(id)
  local flat = redis.call('HGETALL', tkey(id))
  if #flat == 0 then return nil end
  local r = {}
  for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
  return r
end

-- A record as one JSON object of its hash fields.
local function record_json(r)
  return cjson.encode(r)
end

-- A task record as one JSON object of its hash fields (false when there is none).
local function task_json(id)
  local r = load_all(id)
  if not r then return false end
  return record_json(r)
end

-- Move a task between its type's status indexes (the caller writes the status field).
-- There is one index per type and status; listing by status alone merges them.
-- Processing tasks have none: their type's token set (`run:{type}`) holds exactly
-- them, so a second index would cost every run two writes for listing alone.
local function move(id, typ, old, new)
  if old == new then return end
  if old and old ~= 'processing' then redis.call('ZREM', P .. 'ys:' .. typ .. ':' .. old, id) end
  if new ~= 'processing' then redis.call('ZADD', P .. 'ys:' .. typ .. ':' .. new, '0', id) end
end

-- Write a record: `set` and `del` are field lists (HSET pairs, HDEL names) also
-- applied to `r`; an empty `del` costs no command.
local function write(id, r, set, del)
  local args = {'HSET', tkey(id)}
  for i = 1, #set, 2 do
    args[#args + 1] = set[i]; args[#args + 1] = set[i + 1]
    r[set[i]] = set[i + 1]
  end
  redis.call(unpack(args))
  if #del > 0 then
    for _, f in ipairs(del) do r[f] = nil end
    redis.call('HDEL', tkey(id), unpack(del))
  end
end

-- Add `f` to `del` when the record has it.
local function drop(r, del, ...)
  for _, f in ipairs({...}) do
    if r[f] then del[#del + 1] = f end
  end
end

-- The event describing record `r` of task `id` now, as returned to the caller.
local function event_of(id, r, kind, ts)
  return {id, r.type, r.status, r.retry or '0', r.error or false, r.progress or false,
    r.worker_id or false, ts or NOW_S, kind or 'status'}
end

-- Events go back to the caller as one JSON array each (fewer replies to parse).
local function push_event(e)
  EVENTS[#EVENTS + 1] = cjson.encode(e)
end

-- Append an event to the capped event log.
local function log_event(e)
  local args = {'XADD', P .. 'events', 'MAXLEN', '~', EVENTS_MAX, '*',
    'task_id', e[1], 'type', e[2], 'status', e[3], 'retry', e[4], 'ts', e[8], 'kind', e[9]}
  if e[5] then args[#args + 1] = 'error'; args[#args + 1] = e[5] end
  if e[6] then args[#args + 1] = 'progress'; args[#args + 1] = e[6] end
  if e[7] then args[#args + 1] = 'worker_id'; args[#args + 1] = e[7] end
  redis.call(unpack(args))
end

-- Record an event: returned by the script and appended to the capped event log.
local function emit(id, r, kind)
  local e = event_of(id, r, kind)
  log_event(e)
  push_event(e)
end

-- Tokens in use: tasks of the type whose lease is live.
local function running(typ)
  return redis.call('ZCOUNT', P .. 'run:' .. typ, '(' .. NOW_S, '+inf')
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
  local park = P .. 'park:' .. typ
  local ids = redis.call('ZRANGE', park, 0, stop)
  if #ids == 0 then return end
  local due = {'ZADD', P .. 'pub'}
  for _, id in ipairs(ids) do
    redis.call('HDEL', tkey(id), 'parked')
    due[#due + 1] = NOW_S; due[#due + 1] = id
  end
  redis.call(unpack(due))
  redis.call('ZREM', park, unpack(ids))
end

-- Whether a type may have parked tasks, asked once per type per script (nothing in
-- a finish or a claim that starts tasks parks one); forgotten after a wake-up.
local MAY_PARK = {}
local function wake_one(typ)
  if MAY_PARK[typ] == nil then
    MAY_PARK[typ] = redis.call('EXISTS', P .. 'park:' .. typ) == 1
  end
  if MAY_PARK[typ] then
    wake_parked(typ, 1)
    MAY_PARK[typ] = nil
  end
end

-- Take a task out of the working indexes its record says it is in. A `pub` entry
-- may outlive a pending status (a claim leaves it: take_due drops it when due).
local function leave_working(id, r)
  local typ = r.type
  if r.status == 'pending' then redis.call('ZREM', P .. 'pub', id) end
  if r.status == 'processing' then redis.call('ZREM', P .. 'run:' .. typ, id) end
  if r.deadline then redis.call('ZREM', P .. 'dl', id) end
  if r.parked then redis.call('ZREM', P .. 'park:' .. typ, id) end
end

-- Put a task in a terminal state: out of every working index, kept for `retention`
-- seconds. `r` is its record (from load). `lease_until` is left in the hash: it only
-- means something while the task is processing.
local function terminate(id, r, status, err, retention, result)
  leave_working(id, r)
  move(id, r.type, r.status, status)
  local expires = num(NOW + retention)
  local set = {'status', status, 'updated_at', NOW_S, 'completed_at', NOW_S,
    'expires_at', expires}
  local del = {}
  if err then
    set[#set + 1] = 'error'; set[#set + 1] = err
  else
    drop(r, del, 'error')
  end
  if status == 'success' then
    -- no task that can end has a result yet: only this sets one, and it is final
    if result then set[#set + 1] = 'result'; set[#set + 1] = result end
    set[#set + 1] = 'progress'; set[#set + 1] = '1'
  end
  local waited = r.waited
  drop(r, del, 'deadline', 'cancel', 'parked', 'waited')
  write(id, r, set, del)
  redis.call('ZADD', P .. 'exp', expires, id)
  emit(id, r)
  if waited then -- a client waits for this task's end (get with watch): wake it
    local done = P .. 'done:' .. id
    redis.call('XADD', done, '*', 'task', task_json(id))
    redis.call('EXPIRE', done, DONE_TTL)
  end
end

-- Back to pending (a retry, a release, a lost run): due at `eta`, or now. The task
-- started once, so its queue timeout no longer applies.
local function to_pending(id, r, eta, err, retry)
  local typ = r.type
  if r.status == 'processing' then redis.call('ZREM', P .. 'run:' .. typ, id) end
  if r.deadline then redis.call('ZREM', P .. 'dl', id) end
  move(id, typ, r.status, 'pending')
  local set = {'status', 'pending', 'retry', tostring(retry), 'updated_at', NOW_S}
  local del = {}
  if eta then set[#set + 1] = 'eta'; set[#set + 1] = num(eta) end
  if err then set[#set + 1] = 'error'; set[#set + 1] = err else drop(r, del, 'error') end
  -- always some to delete (a processing task has a worker and a lease): the HDEL
  -- runs anyway, so it names these whether or not the record was read for them
  del[#del + 1] = 'worker_id'; del[#del + 1] = 'lease_until'
  del[#del + 1] = 'deadline'
  if not eta then del[#del + 1] = 'eta' end
  drop(r, del, 'cancel')
  write(id, r, set, del)
  redis.call('ZADD', P .. 'pub', num(eta or NOW), id)
  emit(id, r)
end

-- Pending tasks past their queue timeout become `timeout` (up to `batch` of them).
-- Returns how many deadlines it looked at: `batch` means there may be more.
local function time_out_overdue(retention, batch)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'dl', '-inf', NOW_S, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local r = load(id)
    if r and r.status == 'pending' then
      terminate(id, r, 'timeout', 'queue timeout', retention)
    else
      redis.call('ZREM', P .. 'dl', id)
    end
  end
  return #ids
end

-- Safety net behind the wake-ups: wake parked tasks of every type with free tokens.
local function sweep_parked(types)
  for _, typ in ipairs(types) do
    if redis.call('EXISTS', P .. 'park:' .. typ) == 1 then
      local cap = limit_of(typ)
      wake_parked(typ, cap and (cap - running(typ)) or nil)
    end
  end
end

-- Delete a task and every index entry that names it; `r` is its record (from load).
local function purge(id, r)
  local typ, status = r.type, r.status
  redis.call('DEL', tkey(id))
  redis.call('ZREM', P .. 'all', id)
  redis.call('ZREM', P .. 'y:' .. typ, id)
  redis.call('ZREM', P .. 'pub', id)
  if status == 'processing' then
    redis.call('ZREM', P .. 'run:' .. typ, id)
  else
    redis.call('ZREM', P .. 'ys:' .. typ .. ':' .. status, id)
    if status ~= 'pending' then redis.call('ZREM', P .. 'exp', id) end
  end
  if r.deadline then redis.call('ZREM', P .. 'dl', id) end
  if r.parked then redis.call('ZREM', P .. 'park:' .. typ, id) end
  local key = r.idempotency_key
  if key and redis.call('HGET', P .. 'idem', key) == id then
    redis.call('HDEL', P .. 'idem', key)
  end
  if redis.call('EXISTS', P .. 'y:' .. typ) == 0 then
    redis.call('SREM', P .. 'tt', typ)
  end
end
