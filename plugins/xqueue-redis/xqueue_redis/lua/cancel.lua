-- cancel: ARGV[2] id, ARGV[3] retention. Returns {outcome, task} or {'none'}.
local id = ARGV[2]
local status = redis.call('HGET', tkey(id), 'status')
if not status then
  return {{'none'}, EVENTS}
end
local outcome
if status == 'pending' then
  terminate(id, 'canceled', 'canceled', tonumber(ARGV[3]))
  outcome = 'canceled'
elseif status == 'processing' then
  redis.call('HSET', tkey(id), 'cancel', '1')
  outcome = 'requested'
else
  outcome = 'finished'
end
return {{outcome, task_json(id)}, EVENTS}
