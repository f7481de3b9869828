-- parent_results: ARGV[2] task id, ARGV[3] offset, ARGV[4] limit. One page of the task's
-- parents (its depends_on, in order, from offset) with their results (false: none, or
-- the parent is no longer kept). Returns {ids, results, next offset or -1}.
local raw = redis.call('HGET', tkey(ARGV[2]), 'depends_on')
local ids, results = {}, {}
if not raw then return {{ids, results, -1}, EVENTS} end
local parents = cjson.decode(raw)
local first, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local last = math.min(#parents, first + limit)
for i = first + 1, last do
  ids[#ids + 1] = parents[i]
  results[#results + 1] = redis.call('HGET', tkey(parents[i]), 'result') or false
end
local more = -1
if last < #parents then more = last end
return {{ids, results, more}, EVENTS}
