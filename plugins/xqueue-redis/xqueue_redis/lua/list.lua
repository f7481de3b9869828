-- list_tasks: ARGV[2] index key ('' for a status across types), ARGV[3] upper bound
-- ('+' or '(' .. cursor), ARGV[4] count, ARGV[5] retention, ARGV[6] batch, ARGV[7] the
-- status when ARGV[2] is '', ARGV[8] the type ('' for every type) then. Overdue
-- pending tasks are timed out first, so the listing never shows one as pending.
-- Returns {1} when more overdue tasks are left to time out (the caller runs it
-- again), else {0, tasks}.
if time_out_overdue(keep(ARGV[5]), ARGV[6]) >= tonumber(ARGV[6]) then
  return {{1}, EVENTS}
end
local count = tonumber(ARGV[4])
local ids
if ARGV[2] ~= '' then
  ids = redis.call('ZREVRANGEBYLEX', ARGV[2], ARGV[3], '-', 'LIMIT', 0, count)
else
  -- newest first by id over every type's index of the status: the first `count` of
  -- each, merged in byte order (as the lex indexes sort; Lua's `<` follows the locale)
  local function before(a, b)
    local n = math.min(#a, #b)
    for j = 1, n do
      local x, y = string.byte(a, j), string.byte(b, j)
      if x ~= y then return x > y end
    end
    return #a > #b
  end
  local status, upper = ARGV[7], ARGV[3]
  local below = upper ~= '+' and string.sub(upper, 2) or nil
  local types = ARGV[8] ~= '' and {ARGV[8]} or redis.call('SMEMBERS', P .. 'tt')
  ids = {}
  for _, typ in ipairs(types) do
    if status == 'processing' then
      -- a type's token set is scored by lease, not by id: as many as run at once
      for _, id in ipairs(redis.call('ZRANGE', P .. 'run:' .. typ, 0, -1)) do
        if not below or before(below, id) then ids[#ids + 1] = id end
      end
    else
      local got = redis.call('ZREVRANGEBYLEX', P .. 'ys:' .. typ .. ':' .. status, upper, '-',
        'LIMIT', 0, count)
      for _, id in ipairs(got) do ids[#ids + 1] = id end
    end
  end
  table.sort(ids, before)
  for j = #ids, count + 1, -1 do ids[j] = nil end
end
local out = {}
for _, id in ipairs(ids) do
  local t = task_json(id)
  if t then out[#out + 1] = t end
end
return {{0, out}, EVENTS}
