-- list_tasks: ARGV[2] index key, ARGV[3] upper bound ('+' or '(' .. cursor), ARGV[4] count.
local ids = redis.call('ZREVRANGEBYLEX', ARGV[2], ARGV[3], '-', 'LIMIT', 0, ARGV[4])
local out = {}
for _, id in ipairs(ids) do
  local t = task_json(id)
  if t then out[#out + 1] = t end
end
return {out, EVENTS}
