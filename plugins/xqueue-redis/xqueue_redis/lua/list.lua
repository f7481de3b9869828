-- list_tasks: ARGV[2] index key, ARGV[3] upper bound ('+' or '(' .. cursor), ARGV[4] count,
-- ARGV[5] retention, ARGV[6] batch. Overdue pending tasks are timed out first, so the
-- listing never shows one as pending. Returns {1} when more overdue tasks are left to
-- time out (the caller runs it again), else {0, tasks}.
if time_out_overdue(tonumber(ARGV[5]), ARGV[6]) >= tonumber(ARGV[6]) then
  return {{1}, EVENTS}
end
local ids = redis.call('ZREVRANGEBYLEX', ARGV[2], ARGV[3], '-', 'LIMIT', 0, ARGV[4])
local out = {}
for _, id in ipairs(ids) do
  local t = task_json(id)
  if t then out[#out + 1] = t end
end
return {{0, out}, EVENTS}
