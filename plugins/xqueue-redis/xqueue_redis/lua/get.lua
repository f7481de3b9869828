-- get: ARGV[2] id, ARGV[3] retention, ARGV[4] '1' to watch. An overdue pending task
-- becomes timeout first. Watching marks a task not yet ended as waited on: when it
-- ends, its final record is appended to `done:{id}` (kept DONE_TTL seconds), where
-- the waiting clients read it.
local id = ARGV[2]
local r = load_all(id)
if not r then
  return {false, EVENTS}
end
if r.status == 'pending' and r.deadline and tonumber(r.deadline) <= NOW then
  terminate(id, r, 'timeout', 'queue timeout', keep(ARGV[3]))
elseif ARGV[4] == '1' and not r.waited and (r.status == 'pending' or r.status == 'processing') then
  redis.call('HSET', tkey(id), 'waited', '1')
end
return {record_json(r), EVENTS}
