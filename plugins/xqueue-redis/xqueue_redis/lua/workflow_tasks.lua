-- workflow_tasks: ARGV[2] workflow id, ARGV[3] the id to start after ('' from the
-- first), ARGV[4] limit. Members by id (wf:{workflow}, lex). Returns {tasks as JSON,
-- 1 if there are more else 0}.
local start = '-'
if ARGV[3] ~= '' then start = '(' .. ARGV[3] end
local limit = tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYLEX', P .. 'wf:' .. ARGV[2], start, '+', 'LIMIT', 0, limit + 1)
local out = {}
for i = 1, math.min(#ids, limit) do
  local t = task_json(ids[i])
  if t then out[#out + 1] = t end
end
local more = 0
if #ids > limit then more = 1 end
return {{out, more}, EVENTS}
