-- get: ARGV[2] id, ARGV[3] retention. An overdue pending task becomes timeout first.
local id = ARGV[2]
local h = redis.call('HMGET', tkey(id), 'status', 'deadline')
if h[1] == 'pending' and h[2] and tonumber(h[2]) <= NOW then
  terminate(id, 'timeout', 'queue timeout', tonumber(ARGV[3]))
end
return {task_json(id), EVENTS}
