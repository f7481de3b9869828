-- get: ARGV[2] id, ARGV[3] retention. An overdue pending task becomes timeout first.
local id = ARGV[2]
local r = load_all(id)
if not r then
  return {false, EVENTS}
end
if r.status == 'pending' and r.deadline and tonumber(r.deadline) <= NOW then
  terminate(id, r, 'timeout', 'queue timeout', tonumber(ARGV[3]))
end
return {record_json(r), EVENTS}
