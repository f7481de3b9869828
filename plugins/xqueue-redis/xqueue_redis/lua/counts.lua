-- counts: ARGV[2] retention, ARGV[3] batch. {status, n, ...} and {type, n, ...} over the
-- tasks kept, as one snapshot, after overdue pending tasks are timed out. Returns {1}
-- when more overdue tasks are left to time out (the caller runs it again).
if time_out_overdue(keep(ARGV[2]), ARGV[3]) >= tonumber(ARGV[3]) then
  return {{1}, EVENTS}
end
local per_status = {}
local by_type = {}
for _, typ in ipairs(redis.call('SMEMBERS', P .. 'tt')) do
  local n = redis.call('ZCARD', P .. 'y:' .. typ)
  if n > 0 then
    by_type[#by_type + 1] = typ; by_type[#by_type + 1] = n
    for _, s in ipairs(STATUSES) do
      local index = s == 'processing' and 'run:' .. typ or 'ys:' .. typ .. ':' .. s
      per_status[s] = (per_status[s] or 0) + redis.call('ZCARD', P .. index)
    end
  end
end
local by_status = {}
for _, s in ipairs(STATUSES) do
  local n = per_status[s] or 0
  if n > 0 then by_status[#by_status + 1] = s; by_status[#by_status + 1] = n end
end
return {{0, by_status, by_type}, EVENTS}
