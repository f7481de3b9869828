-- fire_schedule: ARGV[2] name, ARGV[3] expected next tick, ARGV[4] new next tick,
-- ARGV[5] a JSON list of create rows (as create.lua), one task per fired tick.
-- The claim of the ticks: only if the schedule is enabled and its next tick is still the
-- expected one (another process has not fired it). Returns {0} (lost) or {1, now, n}
-- (n tasks created: 0 when overlap=skip found the last fired task still running).
local name, expected, new_next = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local h = P .. 'sched:' .. name
local s = redis.call('HMGET', h, 'enabled', 'next_at', 'overlap', 'last_task_id')
if s[1] ~= '1' or not s[2] or math.abs(tonumber(s[2]) - expected) > 1e-6 then
  return {{0}, EVENTS}
end
local rows = cjson.decode(ARGV[5])
if s[3] == 'skip' and s[4] then
  local status = redis.call('HGET', tkey(s[4]), 'status')
  if status and status ~= 'success' and status ~= 'failed' and status ~= 'timeout'
      and status ~= 'canceled' then
    rows = {} -- the last one still runs: these ticks are skipped
  end
end
local typed = {}
for _, t in ipairs(rows) do insert_task(t, 0, typed) end
local set = {'HSET', h, 'next_at', new_next}
if #rows > 0 then
  local last = rows[#rows]
  set[#set + 1] = 'last_run'; set[#set + 1] = last[12]
  set[#set + 1] = 'last_task_id'; set[#set + 1] = last[1]
end
redis.call(unpack(set))
redis.call('ZADD', P .. 'schedq', new_next, name)
return {{1, NOW_S, #rows}, EVENTS}
