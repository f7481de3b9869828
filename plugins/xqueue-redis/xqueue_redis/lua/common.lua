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
local STATUSES = {'waiting', 'pending', 'processing', 'success', 'failed', 'timeout',
  'canceled'}
local EVENTS = {}

local function num(x)
  return string.format('%.17g', x)
end

local NOW_S = num(NOW)

-- Retention as the client sends it, "<result_ttl>/<dead_ttl>" (seconds): a task that
-- ends failed or timeout (a dead task, kept for replay) is kept dead_ttl, any other
-- result_ttl. Returns result_ttl; terminate reads DEAD_TTL.
local DEAD_TTL = nil
local function keep(arg)
  local result_ttl, dead_ttl = string.match(arg, '^([^/]+)/(.+)$')
  if not result_ttl then return tonumber(arg) end
  DEAD_TTL = tonumber(dead_ttl)
  return tonumber(result_ttl)
end

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
  'waited', 'key', 'kids', 'workflow'}
local FINISH_FIELDS = {'type', 'status', 'retry', 'error', 'progress', 'worker_id', 'cancel',
  'waited', 'key', 'kids'}

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

-- The tokens a type has in all: its limit (nil: none), 0 while it is paused (paused:
-- type -> when; its limit is kept).
local function limit_of(typ)
  if redis.call('HEXISTS', P .. 'paused', typ) == 1 then return 0 end
  local v = redis.call('HGET', P .. 'limits', typ)
  if v then return tonumber(v) end
  return nil
end

-- Flow keys (per-key limits and round-robin wake-ups). A task's key is its record's
-- `key` field; a task without one (or with '') is under its type's limit only, and
-- counts as the key '' for the round-robin. Types never contain '/', so
-- `<name>:<type>/<key>` names one key's set unambiguously. Per type:
--   runk:<type>/<key>  zset  running tasks of a key -> lease expiry (as run:<type>),
--                            while the type has key limits
--   klimits:<type>     hash  key -> limit, '*' -> the default of every key
--   park:<type>        zset  parked tasks without a key, by -priority (as before keys)
--   pq:<type>/<key>    zset  parked tasks of a key, by -priority, then id (oldest)
--   pk:<type>          zset  keys with parked tasks that may be woken (score 0, lex)
--   pb:<type>          zset  keys with parked tasks at their limits: not visited by
--                            wake-ups until a run of the key ends or its limit rises
--   rr:<type>          string  the key woken last ('' for a task without a key)
-- A task without a key touches none of them but park/rr: its claim and finish cost
-- what they cost before keys (a wake-up of one writes rr once per script call).

-- The flow key of a record (nil: none).
local function key_of(r)
  local k = r.key
  if k and k ~= '' then return k end
  return nil
end

local function kkey(name, typ, key)
  return P .. name .. ':' .. typ .. '/' .. key
end

-- Whether the type has key limits (klimits:<type>), asked once per type per script.
-- Only then do its runs keep runk:<type>/<key> (set_key_limit builds them from
-- run:<type> when the first limit comes, and drops them when the last one goes) and
-- may its keys be at their limits (pb:<type>): keyed tasks of a type without key
-- limits cost one EXISTS per script call more than tasks without a key.
local HAS_KLIMITS = {}
local function has_key_limits(typ)
  local v = HAS_KLIMITS[typ]
  if v == nil then
    v = redis.call('EXISTS', P .. 'klimits:' .. typ) == 1
    HAS_KLIMITS[typ] = v
  end
  return v
end

-- A key's limit: its own, else the type's default, else false (none); asked once per
-- key per script.
local KLIMIT = {}
local function key_limit(typ, key)
  local slot = typ .. '/' .. key
  local v = KLIMIT[slot]
  if v == nil then
    v = false
    if has_key_limits(typ) then
      local got = redis.call('HMGET', P .. 'klimits:' .. typ, key, '*')
      local text = got[1] or got[2]
      if text then v = tonumber(text) end
    end
    KLIMIT[slot] = v
  end
  return v
end

-- Slots a key has free now (false: it has no limit).
local function key_free(typ, key)
  local cap = key_limit(typ, key)
  if not cap then return false end
  return cap - redis.call('ZCOUNT', kkey('runk', typ, key), '(' .. NOW_S, '+inf')
end

-- How park_task last placed a key in this script (true: at its limit, in pb; false:
-- in pk), so parking many tasks of a key writes its place once; forgotten whenever
-- anything else moves the key.
local PARKED_AS = {}

-- Whether a type may have parked tasks to wake (what EXISTS park:<type> pk:<type>
-- answered), asked once per type per script (nothing in a finish or a claim that
-- starts tasks parks one); forgotten after a wake-up and when a key may be woken again.
local MAY_PARK = {}

-- Priority bands of parked tasks (high > 0, normal 0, low < 0, as the brokers'
-- default bands): wake-ups go round-robin over the keys whose next parked task is in
-- the highest band any key to wake has. Only types that ever parked a task with a
-- priority other than 0 pay for it (pp:<type> says so):
--   pkh:<type>  zset (lex)  keys to wake (in pk:<type>) whose next task is high
--   pkl:<type>  zset (lex)  the same for low; a key in neither is normal
local PRIO = {}
local function prioritized(typ)
  local v = PRIO[typ]
  if v == nil then
    v = redis.call('EXISTS', P .. 'pp:' .. typ) == 1
    PRIO[typ] = v
  end
  return v
end

local function band_of(score) -- a parked set's score: -priority
  if score < 0 then return 'h' elseif score > 0 then return 'l' end
  return 'n'
end

-- The band of the next task of a parked set (its head), nil when it is empty.
local function head_band(set)
  local got = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  if not got[1] then return nil end
  return band_of(tonumber(got[2]))
end

local BAND_SETS = {{'h', 'pkh:'}, {'l', 'pkl:'}}

-- A key becomes one to wake: into pk:<type>, and into pkh/pkl by its next task.
local function place_ready(typ, key)
  redis.call('ZADD', P .. 'pk:' .. typ, '0', key)
  if prioritized(typ) then
    local b = head_band(kkey('pq', typ, key))
    for _, named in ipairs(BAND_SETS) do
      if named[1] == b then
        redis.call('ZADD', P .. named[2] .. typ, '0', key)
      else
        redis.call('ZREM', P .. named[2] .. typ, key)
      end
    end
  end
end

-- A key is no longer one to wake (at its limit, its rate full, nothing parked).
local function leave_ready(typ, key)
  redis.call('ZREM', P .. 'pk:' .. typ, key)
  if prioritized(typ) then
    redis.call('ZREM', P .. 'pkh:' .. typ, key)
    redis.call('ZREM', P .. 'pkl:' .. typ, key)
  end
end

-- Whether a key to wake is in another band than normal (for the normal band's turn).
local function banded(typ, key)
  return redis.call('ZSCORE', P .. 'pkh:' .. typ, key) or redis.call('ZSCORE', P .. 'pkl:' .. typ, key)
end

-- A run starts or its lease is renewed: the type's token (and the key's).
local function hold_run(id, typ, key, until_)
  redis.call('ZADD', P .. 'run:' .. typ, until_, id)
  if key and has_key_limits(typ) then redis.call('ZADD', kkey('runk', typ, key), until_, id) end
end

-- A run ends (or is parked): its token is free, and a key that was at its limit may
-- be woken again.
local function leave_run(id, typ, key)
  redis.call('ZREM', P .. 'run:' .. typ, id)
  if key and has_key_limits(typ) then
    redis.call('ZREM', kkey('runk', typ, key), id)
    if redis.call('ZREM', P .. 'pb:' .. typ, key) == 1 then
      place_ready(typ, key)
      MAY_PARK[typ] = nil
    end
    PARKED_AS[typ .. '/' .. key] = nil
  end
end

-- Rate limits: at most `count` starts per `period` seconds, per type and per flow key,
-- kept as a sliding window log per bucket:
--   rates:<type>       hash  '' -> the type's own rate, '*' -> every key's default,
--                            key -> a key's own ("count/period-seconds")
--   rl:<type>          zset  the type's bucket: its starts of the last period
--                            (member id@time) and reservations (member: the task id,
--                            score: the moment a wake-up reserved for it)
--   rlk:<type>/<key>   zset  a key's bucket, the same way
--   pr:<type>          zset  keys with parked tasks whose rates are full beyond the
--                            wake-ups' horizon -> when to look at them again
--   rw                 zset  rate-limited types with parked tasks -> when take_due
--                            next wakes them (rates free with time, not with events)
-- A bucket's log expires a period after its last entry (idle keys leave nothing).
local WAKE_AHEAD = 0.2 -- seconds ahead a wake-up reserves moments (xqueue_core.rates)
local RATE_WAKE_EVERY = 0.05 -- how often take_due wakes a rate-limited type's tasks

local RATES = {} -- per type: target -> {count, period}, or false (none); read once
local function rates_of(typ)
  local v = RATES[typ]
  if v == nil then
    v = false
    local flat = redis.call('HGETALL', P .. 'rates:' .. typ)
    if #flat > 0 then
      v = {}
      for i = 1, #flat, 2 do
        local c, p = string.match(flat[i + 1], '^(%d+)/(.+)$')
        v[flat[i]] = {tonumber(c), tonumber(p)}
      end
    end
    RATES[typ] = v
  end
  return v
end

-- The buckets over a task of `typ` with `key` (nil: none): {log, count, period, is the
-- type's}, the type's first; nil when no rate applies.
local function rate_buckets(typ, key)
  local rs = rates_of(typ)
  if not rs then return nil end
  local out = {}
  local own = rs['']
  if own then out[1] = {P .. 'rl:' .. typ, own[1], own[2], true} end
  if key then
    local kr = rs[key] or rs['*']
    if kr then out[#out + 1] = {kkey('rlk', typ, key), kr[1], kr[2], false} end
  end
  if #out == 0 then return nil end
  return out
end

local TRIMMED = {}
local function trim_log(b)
  if not TRIMMED[b[1]] then
    redis.call('ZREMRANGEBYSCORE', b[1], '-inf', num(NOW - b[3]))
    TRIMMED[b[1]] = true
  end
end

local function keep_log(b)
  redis.call('PEXPIRE', b[1], math.ceil((b[3] + WAKE_AHEAD) * 1000) + 1000)
end

-- Whether the bucket has room for the task now. Woken for a moment that has come, it
-- counts the starts and reservations up to now (those of tasks woken for later
-- moments are paid for by starts leaving the window by then); else every entry.
local function has_room(b, id)
  trim_log(b)
  local own = redis.call('ZSCORE', b[1], id)
  local n
  if own and tonumber(own) <= NOW then
    n = redis.call('ZCOUNT', b[1], '-inf', NOW_S) - 1
  else
    n = redis.call('ZCARD', b[1]) - (own and 1 or 0)
  end
  return n < b[2]
end

-- A claim: record a start in every bucket over the task if all have room; the
-- task's reservations go either way (denied, it is parked again).
local function rate_admit(id, typ, key)
  local bs = rate_buckets(typ, key)
  if not bs then return true end
  local ok = true
  for _, b in ipairs(bs) do
    if not has_room(b, id) then ok = false end
  end
  for _, b in ipairs(bs) do
    redis.call('ZREM', b[1], id)
    if ok then
      redis.call('ZADD', b[1], NOW_S, id .. '@' .. NOW_S)
      keep_log(b)
    end
  end
  return ok
end

-- Drop the reservations of a task that ended before it started.
local function rate_release(id, typ, key)
  local bs = rate_buckets(typ, key)
  if bs then
    for _, b in ipairs(bs) do redis.call('ZREM', b[1], id) end
  end
end

-- The first moment a bucket has room for one more: now, or when the start that keeps
-- it full leaves the window. Each reservation is paid for by a distinct start leaving,
-- so the window never holds more than `count`.
local function rate_slot(b)
  trim_log(b)
  local n = redis.call('ZCARD', b[1])
  if n < b[2] then return NOW end
  local got = redis.call('ZRANGE', b[1], n - b[2], n - b[2], 'WITHSCORES')
  local at = tonumber(got[2]) + b[3]
  if not string.find(got[1], '@', 1, true) then
    -- a reservation frees nothing until its task has started (it may start late,
    -- and the window then holds it longer): not within the horizon
    return math.max(at, NOW + WAKE_AHEAD)
  end
  return math.max(NOW, at)
end

-- When a parked task of `key` may start under its rates: (moment, buckets), with
-- buckets nil when no rate applies; (false, 'type' | 'key', moment) when one is full
-- beyond the horizon.
local function rate_wake_at(typ, key)
  local bs = rate_buckets(typ, key)
  if not bs then return NOW, nil end
  local at = NOW
  for _, b in ipairs(bs) do
    local s = rate_slot(b)
    if s >= NOW + WAKE_AHEAD then return false, b[4] and 'type' or 'key', s end
    if s > at then at = s end
  end
  return at, bs
end

local function rate_reserve(id, bs, at)
  for _, b in ipairs(bs) do
    redis.call('ZADD', b[1], num(at), id)
    keep_log(b)
  end
end

-- A woken task: due at `at` (now, or the moment reserved under its rates).
local function make_due_at(id, at)
  redis.call('HDEL', tkey(id), 'parked')
  redis.call('ZADD', P .. 'pub', num(at), id)
end

-- Park a task (the caller writes `parked` and the status): a keyed one in its key's
-- queue, its key among the keys to wake (`pk`) or, when the key is at its limit
-- (`blocked`), among those not to (`pb`).
local function park_task(id, r, blocked)
  local typ, key = r.type, key_of(r)
  local score = -tonumber(r.priority or '0')
  if rates_of(typ) then redis.call('ZADD', P .. 'rw', 'NX', NOW_S, typ) end
  if score ~= 0 and not prioritized(typ) then
    redis.call('SET', P .. 'pp:' .. typ, '1')
    PRIO[typ] = true
  end
  if not key then
    redis.call('ZADD', P .. 'park:' .. typ, score, id)
    return
  end
  redis.call('ZADD', kkey('pq', typ, key), score, id)
  local slot = typ .. '/' .. key
  -- (with bands, a task may change its key's next one: the key's band is looked at again)
  if PARKED_AS[slot] ~= blocked or (not blocked and prioritized(typ)) then
    if blocked then
      leave_ready(typ, key)
      redis.call('ZADD', P .. 'pb:' .. typ, '0', key)
    else
      place_ready(typ, key)
      redis.call('ZREM', P .. 'pb:' .. typ, key)
    end
    PARKED_AS[slot] = blocked
  end
end


-- Take a parked task out of its parked set (not woken: started, ended or deleted).
local function unpark(id, r)
  local typ, key = r.type, key_of(r)
  if not key then
    redis.call('ZREM', P .. 'park:' .. typ, id)
    return
  end
  local q = kkey('pq', typ, key)
  redis.call('ZREM', q, id)
  if redis.call('EXISTS', q) == 0 then
    leave_ready(typ, key)
    redis.call('ZREM', P .. 'pb:' .. typ, key)
    redis.call('ZREM', P .. 'pr:' .. typ, key)
    PARKED_AS[typ .. '/' .. key] = nil
  elseif prioritized(typ) and redis.call('ZSCORE', P .. 'pk:' .. typ, key) then
    place_ready(typ, key) -- it may have been the key's next task
  end
end

-- Woken tasks are due now (take_due hands them to a publisher).
local function make_due(ids)
  local due = {'ZADD', P .. 'pub'}
  for _, id in ipairs(ids) do
    redis.call('HDEL', tkey(id), 'parked')
    due[#due + 1] = NOW_S; due[#due + 1] = id
  end
  redis.call(unpack(due))
end

-- Per-key weights (kweights:<type>: key -> tasks per round-robin turn, 1 unless set),
-- read once per type per script, only by wake-ups that visit keys.
local WEIGHTS = {}
local function weights_of(typ)
  local w = WEIGHTS[typ]
  if w == nil then
    w = {}
    local flat = redis.call('HGETALL', P .. 'kweights:' .. typ)
    for i = 1, #flat, 2 do w[flat[i]] = tonumber(flat[i + 1]) end
    WEIGHTS[typ] = w
  end
  return w
end
local function has_weights(typ) return next(weights_of(typ)) ~= nil end
local function weight_of(typ, key) return weights_of(typ)[key] or 1 end

-- The key woken last per type (read once per script, written when it changes).
local LAST = {}
local function last_woken(typ)
  if LAST[typ] == nil then LAST[typ] = redis.call('GET', P .. 'rr:' .. typ) or false end
  return LAST[typ]
end
local function set_last_woken(typ, key)
  if LAST[typ] ~= key then
    redis.call('SET', P .. 'rr:' .. typ, key)
    LAST[typ] = key
  end
end

-- The key to wake next: the first after `after` in byte order that may be woken,
-- wrapping around ('' first: tasks without a key, when `keyless`); nil for none.
local function next_key(ready, after, keyless)
  if after then
    local got = redis.call('ZRANGEBYLEX', ready, '(' .. after, '+', 'LIMIT', 0, 1)
    if got[1] then return got[1] end
  end
  if keyless then return '' end
  return redis.call('ZRANGEBYLEX', ready, '-', '+', 'LIMIT', 0, 1)[1]
end

-- Make up to `count` parked tasks of the type (all that may start when nil) due now:
-- round-robin over the keys that may be woken, from the key after the one woken last;
-- highest priority, then oldest, first within a key; no more per key than it has free.
-- `exist` is what EXISTS park:<type> pk:<type> answered, when the caller asked.
--
-- Cost: a woken task costs O(log n) (a lex step, a pop, its record). A key visited
-- at its limit (its runs started since it was parked, or its limit was lowered) moves
-- to pb:<type> and is not visited again until one of its runs ends or its limit
-- rises, so each such visit is paid for by an earlier finish or limit change; one
-- wake-up can still visit every key in pk:<type> that reached its limit since then
-- (O(keys) at worst, e.g. the first one after lowering the default of every key).
local function wake_parked(typ, count, exist)
  if count and count <= 0 then return end
  local park, ready = P .. 'park:' .. typ, P .. 'pk:' .. typ
  local n = exist or redis.call('EXISTS', park, ready)
  if n == 0 then return end
  if redis.call('HEXISTS', P .. 'paused', typ) == 1 then return end -- resume wakes them
  local keyless
  if n == 1 and not rates_of(typ) then
    -- one of the two: when it is park:<type>, only tasks without a key can be woken,
    -- in priority order as they were before keys
    local ids = redis.call('ZRANGE', park, 0, count and count - 1 or -1)
    if #ids > 0 then
      redis.call('ZREM', park, unpack(ids))
      make_due(ids)
      set_last_woken(typ, '')
      return
    end
    keyless = 0
  else
    keyless = redis.call('ZCARD', park)
  end
  local last = last_woken(typ)
  local cursor = last -- the key visited last
  -- with weights, the key woken last may have turns left (rrn:<type>: those it took)
  local weighted = has_weights(typ)
  local cur_key, cur_taken = last, 0
  if weighted then cur_taken = tonumber(redis.call('GET', P .. 'rrn:' .. typ) or '0') end
  local resume = weighted and last and last ~= '' and weight_of(typ, last) > cur_taken
  local woken = 0
  local function done()
    set_last_woken(typ, last)
    if weighted and woken > 0 then redis.call('SET', P .. 'rrn:' .. typ, cur_taken) end
  end
  local free = {} -- per key: its free slots, less those woken in this call
  local spent, nspent = {}, 0 -- keys whose free slots this call used up
  -- one turn per band, highest first (a type without priorities has one: every key)
  local bands = prioritized(typ) and {'h', 'n', 'l'} or {false}
  for _, band in ipairs(bands) do
    if count and woken >= count then break end
    local set = ready
    if band == 'h' then set = P .. 'pkh:' .. typ elseif band == 'l' then set = P .. 'pkl:' .. typ end
    local skips, passed = 0, 0 -- spent keys met in a row; keys of other bands met in a row
    while not count or woken < count do
      local keyless_here = keyless > 0 and (not band or head_band(park) == band)
      local key
      if resume then -- the rest of the last key's turn first
        resume = false
        if redis.call('ZSCORE', set, last) then key = last end
      end
      key = key or next_key(set, cursor, keyless_here)
      if not key then break end
      cursor = key
      if band == 'n' and key ~= '' and banded(typ, key) then
        -- high or low: its turn is the other band's
        passed = passed + 1
        if passed > redis.call('ZCARD', ready) then break end
      elseif key == '' then
        passed = 0
        local at, bs = rate_wake_at(typ, nil)
        if not at then return done() end -- the type's rate is full
        local got = redis.call('ZPOPMIN', park)
        keyless = keyless - 1
        if got[1] then
          if bs then rate_reserve(got[1], bs, at) end
          make_due_at(got[1], at)
          woken = woken + 1
          last = key
          cur_key, cur_taken = key, 1
        end
        skips = 0
      elseif spent[key] then
        -- woken up to its limit by this call (its tasks are not running yet, so it
        -- stays among the keys to wake); once every key left is, the turn is done
        skips = skips + 1
        if skips > nspent then break end
      else
        skips, passed = 0, 0
        PARKED_AS[typ .. '/' .. key] = nil
        -- a key takes as many tasks per turn as its weight (while it may)
        local w = weight_of(typ, key)
        -- the tasks this key took of its turn (a turn goes on where it stopped)
        local used = 0
        if key == cur_key and cur_taken < w then used = cur_taken end
        local turns = w - used
        while turns > 0 and (not count or woken < count) and not spent[key] do
          turns = turns - 1
          if free[key] == nil then free[key] = key_free(typ, key) end
          local left = free[key]
          if left and left <= 0 then -- at its limit: not visited again until a slot frees
            leave_ready(typ, key)
            redis.call('ZADD', P .. 'pb:' .. typ, '0', key)
            break
          end
          local at, bs, s = rate_wake_at(typ, key)
          if not at and bs == 'type' then return done() end
          if not at then
            -- the key's rate is full beyond the horizon: looked at again when it frees
            leave_ready(typ, key)
            redis.call('ZADD', P .. 'pr:' .. typ, num(s - WAKE_AHEAD), key)
            break
          end
          local q = kkey('pq', typ, key)
          local got = redis.call('ZPOPMIN', q)
          if got[1] then
            if bs then rate_reserve(got[1], bs, at) end
            make_due_at(got[1], at)
            woken = woken + 1
            last = key
            used = used + 1
            cur_key, cur_taken = key, used
            if left then
              free[key] = left - 1
              if left == 1 then spent[key] = true; nspent = nspent + 1 end
            end
          end
          if redis.call('EXISTS', q) == 0 then
            leave_ready(typ, key)
            break
          elseif band then
            place_ready(typ, key) -- its next task may be in a lower band
            if turns > 0 and head_band(q) ~= band then break end
          end
        end
      end
    end
  end
  done()
end

local function wake_one(typ)
  if MAY_PARK[typ] == nil then
    MAY_PARK[typ] = redis.call('EXISTS', P .. 'park:' .. typ, P .. 'pk:' .. typ)
  end
  if MAY_PARK[typ] > 0 then
    wake_parked(typ, 1, MAY_PARK[typ])
    MAY_PARK[typ] = nil
  end
end

-- Take a task out of the working indexes its record says it is in. A `pub` entry
-- may outlive a pending status (a claim leaves it: take_due drops it when due).
local function leave_working(id, r)
  local typ = r.type
  if r.status == 'pending' then
    redis.call('ZREM', P .. 'pub', id)
    rate_release(id, typ, key_of(r)) -- a moment reserved for it is free again
  end
  if r.status == 'processing' then leave_run(id, typ, key_of(r)) end
  if r.deadline then redis.call('ZREM', P .. 'dl', id) end
  if r.parked then unpark(id, r) end
end

-- Releases the tasks that waited for a task that ended (defined below: it ends some).
local release_children

-- Put a task in a terminal state: out of every working index, kept for `retention`
-- seconds. `r` is its record (from load). `lease_until` is left in the hash: it only
-- means something while the task is processing. Unless `no_cascade`, the tasks that
-- waited for it (depends_on) are released in this same step.
local function terminate(id, r, status, err, retention, result, no_cascade)
  if DEAD_TTL and (status == 'failed' or status == 'timeout') then retention = DEAD_TTL end
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
  if r.kids and not no_cascade then release_children(id, status, retention) end
end

-- A waiting task whose last parent ended: pending, due now (or at its eta); its queue
-- timeout (`qt`, seconds; 0: none) starts now.
local function release_waiting(id, r, qt)
  local typ = r.type
  move(id, typ, 'waiting', 'pending')
  local set = {'status', 'pending', 'updated_at', NOW_S}
  if qt > 0 then
    local deadline = num(NOW + qt)
    set[#set + 1] = 'deadline'; set[#set + 1] = deadline
    redis.call('ZADD', P .. 'dl', deadline, id)
  end
  local at = NOW
  if r.eta and tonumber(r.eta) > NOW then at = tonumber(r.eta) end
  redis.call('ZADD', P .. 'pub', num(at), id)
  write(id, r, set, {})
  emit(id, r)
end

-- The error of a task canceled because a parent did not succeed.
local function parent_error(pid, status)
  return 'parent ' .. pid .. ' ended ' .. status
end

-- Count an ended task off each child's `waiting_on` (its `kids:` list; one update per
-- child, no look at the siblings) and release the children that reach zero: pending,
-- or canceled when a parent did not succeed (unless on_parent_failure=run), whose own
-- children are then released the same way (a work list, not recursion).
release_children = function(id, status, retention)
  local work = {{id, status}}
  while #work > 0 do
    local item = table.remove(work)
    local kids = P .. 'kids:' .. item[1]
    local children = redis.call('LRANGE', kids, 0, -1)
    redis.call('DEL', kids)
    local failed = false
    if item[2] ~= 'success' then failed = parent_error(item[1], item[2]) end
    for _, cid in ipairs(children) do
      local ck = tkey(cid)
      local c = redis.call('HMGET', ck, 'status', 'parent_failed', 'on_parent_failure',
        'queue_timeout')
      if c[1] == 'waiting' then
        local left = redis.call('HINCRBY', ck, 'waiting_on', -1)
        local pf = c[2]
        if failed and not pf then
          redis.call('HSET', ck, 'parent_failed', failed)
          pf = failed
        end
        if left <= 0 then
          local r = load(cid)
          if pf and c[3] ~= 'run' then
            terminate(cid, r, 'canceled', pf, retention, nil, true)
            work[#work + 1] = {cid, 'canceled'}
          else
            release_waiting(cid, r, tonumber(c[4] or '0'))
          end
        end
      end
    end
  end
end

-- Back to pending (a retry, a release, a lost run): due at `eta`, or now. The task
-- started once, so its queue timeout no longer applies.
local function to_pending(id, r, eta, err, retry)
  local typ = r.type
  if r.status == 'processing' then leave_run(id, typ, key_of(r)) end
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

-- Move the keys of a type that are among those at their limits (pb:<type>) but have
-- free slots back among those to wake (pk:<type>); `keys` are the ones to look at.
local function unblock_keys(typ, keys)
  for _, key in ipairs(keys) do
    local left = key_free(typ, key)
    if not left or left > 0 then
      redis.call('ZREM', P .. 'pb:' .. typ, key)
      place_ready(typ, key)
      PARKED_AS[typ .. '/' .. key] = nil
      MAY_PARK[typ] = nil
    end
  end
end

local SWEEP_KEYS = 8 -- keys at their limits each upkeep looks at again, per type

-- Safety net behind the wake-ups: wake parked tasks of every type with free tokens.
-- A key at its limit is woken again when one of its runs ends; as a net behind that,
-- upkeep looks at a few of them at random (bounded: there may be many).
local function sweep_parked(types)
  for _, typ in ipairs(types) do
    local exist = redis.call('EXISTS', P .. 'park:' .. typ, P .. 'pk:' .. typ, P .. 'pb:' .. typ)
    if exist > 0 then
      local cap = limit_of(typ)
      local free = cap and (cap - running(typ)) or nil
      if not free or free > 0 then
        local blocked = P .. 'pb:' .. typ
        if redis.call('EXISTS', blocked) == 1 then
          unblock_keys(typ, redis.call('ZRANDMEMBER', blocked, SWEEP_KEYS))
        end
        wake_parked(typ, free)
      end
    end
  end
end

-- Record a new task (`t`: a create row) with each of its parents (t[13], JSON text)
-- that has not ended: RPUSH to the parent's `kids:` list, `kids` marked on it. How
-- many those are, and the error of the first parent that ended other than success.
local function attach_parents(id, deps)
  local open, failed = 0, false
  for _, pid in ipairs(cjson.decode(deps)) do
    local status = redis.call('HGET', tkey(pid), 'status')
    if status == 'success' then
      -- ended well: nothing to wait for
    elseif status == 'failed' or status == 'timeout' or status == 'canceled' then
      if not failed then failed = parent_error(pid, status) end
    else
      redis.call('RPUSH', P .. 'kids:' .. pid, id)
      redis.call('HSET', tkey(pid), 'kids', '1')
      open = open + 1
    end
  end
  return open, failed
end

-- Insert a new task from its create row `t` (see create.lua) and log its event:
-- pending, or waiting for its parents, or canceled at once (kept `retention` seconds)
-- when a parent ended other than success before it was created and it waits for no
-- other; `typed` remembers the types already added to `tt` in this script. Its status.
local function insert_task(t, grace, typed, retention)
  local id, typ = t[1], t[2]
  local qt, eta = t[6], t[8]
  local ikey = t[9]
  local has_key = ikey ~= false
  local k = tkey(id)
  local waiting_on, failed = 0, false
  if t[13] then waiting_on, failed = attach_parents(id, t[13]) end
  local status = 'pending'
  if waiting_on > 0 then status = 'waiting' end
  local cancel_now = failed and waiting_on == 0 and t[14] ~= 'run'
  local fields = {'HSET', k, 'id', id, 'type', typ, 'status', status,
    'payload', t[3], 'priority', t[4], 'retry', '0', 'max_retry', t[5],
    'queue_timeout', qt, 'process_timeout', t[7], 'created_at', NOW_S,
    'updated_at', NOW_S, 'redeliveries', '0'}
  -- due now: the submitter publishes it, `pub` is the fallback if it crashes first;
  -- delayed: the scheduler publishes it at its eta
  local publish_at = NOW + grace
  if eta ~= '' then
    fields[#fields + 1] = 'eta'; fields[#fields + 1] = eta
    publish_at = tonumber(eta)
  end
  if has_key then
    fields[#fields + 1] = 'idempotency_key'; fields[#fields + 1] = ikey
    redis.call('HSET', P .. 'idem', ikey, id)
  end
  if t[10] then fields[#fields + 1] = 'key'; fields[#fields + 1] = t[10] end
  if t[11] then fields[#fields + 1] = 'schedule'; fields[#fields + 1] = t[11] end
  if t[12] and t[12] ~= '' then
    fields[#fields + 1] = 'scheduled_for'; fields[#fields + 1] = t[12]
  end
  if t[15] then
    fields[#fields + 1] = 'workflow'; fields[#fields + 1] = t[15]
    redis.call('ZADD', P .. 'wf:' .. t[15], '0', id)
  end
  if t[16] then -- it replays a dead task, which points at it (once)
    fields[#fields + 1] = 'replay_of'; fields[#fields + 1] = t[16]
    if redis.call('EXISTS', tkey(t[16])) == 1 then
      redis.call('HSETNX', tkey(t[16]), 'replayed_by', id)
    end
  end
  if t[13] then
    fields[#fields + 1] = 'depends_on'; fields[#fields + 1] = t[13]
    if t[14] then
      fields[#fields + 1] = 'on_parent_failure'; fields[#fields + 1] = t[14]
    end
    fields[#fields + 1] = 'waiting_on'; fields[#fields + 1] = tostring(waiting_on)
    if failed then fields[#fields + 1] = 'parent_failed'; fields[#fields + 1] = failed end
  end
  if tonumber(qt) > 0 and status == 'pending' then
    local deadline = num(NOW + tonumber(qt))
    fields[#fields + 1] = 'deadline'; fields[#fields + 1] = deadline
    redis.call('ZADD', P .. 'dl', deadline, id)
  end
  redis.call(unpack(fields))
  redis.call('ZADD', P .. 'ys:' .. typ .. ':' .. status, '0', id)
  local stream = t[17]
  if status == 'waiting' or cancel_now then
    -- no message and nothing due: its last parent's end releases it (or it ends now)
  elseif stream and (eta == '' or tonumber(eta) <= NOW) then  -- due now
    -- create_and_publish: the message goes out in this same step (no fallback needed)
    redis.call('XADD', KEYS[1 + stream], '*', 'id', id, 'type', typ, 'priority', t[4])
  else
    redis.call('ZADD', P .. 'pub', num(publish_at), id)
  end
  redis.call('ZADD', P .. 'all', '0', id)
  redis.call('ZADD', P .. 'y:' .. typ, '0', id)
  if not typed[typ] then
    redis.call('SADD', P .. 'tt', typ)
    typed[typ] = true
  end
  -- the caller makes its own events for new tasks: only the log gets this one
  log_event({id, typ, status, '0', false, false, false, NOW_S, 'status'})
  if cancel_now then
    terminate(id, load(id), 'canceled', failed, retention)
    return 'canceled'
  end
  return status
end

-- Delete a task and every index entry that names it; `r` is its record (from load).
local function purge(id, r)
  local typ, status = r.type, r.status
  redis.call('DEL', tkey(id))
  redis.call('ZREM', P .. 'all', id)
  redis.call('ZREM', P .. 'y:' .. typ, id)
  redis.call('ZREM', P .. 'pub', id)
  if status == 'processing' then
    leave_run(id, typ, key_of(r))
  else
    redis.call('ZREM', P .. 'ys:' .. typ .. ':' .. status, id)
    if status ~= 'pending' then redis.call('ZREM', P .. 'exp', id) end
  end
  if r.deadline then redis.call('ZREM', P .. 'dl', id) end
  if r.parked then unpark(id, r) end
  if r.workflow then redis.call('ZREM', P .. 'wf:' .. r.workflow, id) end
  if r.kids then redis.call('DEL', P .. 'kids:' .. id) end -- (its children go with it)
  local key = r.idempotency_key
  if key and redis.call('HGET', P .. 'idem', key) == id then
    redis.call('HDEL', P .. 'idem', key)
  end
  if redis.call('EXISTS', P .. 'y:' .. typ) == 0 then
    redis.call('SREM', P .. 'tt', typ)
    -- no task of the type is left to wake
    redis.call('DEL', P .. 'rr:' .. typ, P .. 'rrn:' .. typ, P .. 'pp:' .. typ)
  end
end
