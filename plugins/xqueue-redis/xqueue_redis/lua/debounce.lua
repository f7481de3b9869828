-- debounce: ARGV[2] the task's create row (JSON, as in create.lua; its flow key set),
-- ARGV[3] window (seconds), ARGV[4] max_wait (seconds) or ''.
-- deb:<type> (hash) maps a flow key to "<task id> <when its window opened>": the task
-- the key's last window created. While that task waits (pending, not parked, not yet
-- due, never run) it takes this submit's payload and its start moves to `window` from
-- now, capped at `max_wait` after its window opened: returns {0, task}. Otherwise the
-- row becomes a new task due `window` from now (or `max_wait`, if shorter) and opens
-- the window: returns {1, now}.
local t = cjson.decode(ARGV[2])
local window = tonumber(ARGV[3])
local max_wait = ARGV[4] ~= '' and tonumber(ARGV[4]) or nil
local typ, key = t[2], t[10]
local windows = P .. 'deb:' .. typ
local open_ = redis.call('HGET', windows, key)
if open_ then
  local id, first = string.match(open_, '^(%S+) (%S+)$')
  local h = redis.call('HMGET', tkey(id), 'status', 'parked', 'eta', 'retry', 'redeliveries',
    'started_at')
  if h[1] == 'pending' and not h[2] and h[3] and tonumber(h[3]) > NOW and h[4] == '0'
      and (h[5] or '0') == '0' and not h[6] then
    local eta = NOW + window
    if max_wait then eta = math.min(eta, tonumber(first) + max_wait) end
    redis.call('HSET', tkey(id), 'payload', t[3], 'eta', num(eta), 'updated_at', NOW_S)
    redis.call('ZADD', P .. 'pub', num(eta), id)
    return {{0, task_json(id)}, {}}
  end
end
local eta = NOW + window
if max_wait and max_wait < window then eta = NOW + max_wait end
t[8] = num(eta)
insert_task(t, 0, {})
redis.call('HSET', tkey(t[1]), 'debounced', '1')
redis.call('HSET', windows, key, t[1] .. ' ' .. NOW_S)
return {{1, NOW_S}, {}}
