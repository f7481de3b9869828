-- schedules: ARGV[2] 'all' (every schedule, by name) or 'due' with ARGV[3] the most
-- to return (enabled schedules whose next tick has come, the longest due first).
-- Returns {now, {fields of sched:<name> as flat lists}}.
local names
if ARGV[2] == 'due' then
  names = redis.call('ZRANGEBYSCORE', P .. 'schedq', '-inf', NOW_S, 'LIMIT', 0, ARGV[3])
elseif ARGV[2] == 'one' then
  names = {ARGV[3]}
else
  names = redis.call('ZRANGE', P .. 'schedn', 0, -1)
end
local out = {}
for _, name in ipairs(names) do
  local flat = redis.call('HGETALL', P .. 'sched:' .. name)
  if #flat > 0 then out[#out + 1] = flat end
end
return {{NOW_S, out}, EVENTS}
