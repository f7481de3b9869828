-- fire_schedules: ARGV[2] a JSON list of fires, each [name, expected next tick, new next
-- tick, [create rows (as create.lua), one task per fired tick]].
-- Per fire, the claim of its ticks: only if the schedule is enabled and its next tick is
-- still the expected one (another process has not fired it). Returns {now, {n, ...}}: per
-- fire -1 (lost: nothing of it changed) or the number of tasks created (0 when
-- overlap=skip found the last fired task still running).
local function fire(name, expected, new_next, rows)
  local h = P .. 'sched:' .. name
  local s = redis.call('HMGET', h, 'enabled', 'next_at', 'overlap', 'last_task_id')
  if s[1] ~= '1' or not s[2] or math.abs(tonumber(s[2]) - expected) > 1e-6 then
    return -1
  end
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
  return #rows
end

local out = {}
for i, f in ipairs(cjson.decode(ARGV[2])) do
  out[i] = fire(f[1], tonumber(f[2]), f[3], f[4])
end
return {{NOW_S, out}, EVENTS}
