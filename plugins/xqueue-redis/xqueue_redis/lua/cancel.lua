-- cancel: ARGV[2] id, ARGV[3] retention. Returns {outcome, task} or {'none'}.
local id = ARGV[2]
local r = load(id)
if not r then
  return {{'none'}, EVENTS}
end
local outcome
if r.status == 'pending' or r.status == 'waiting' then
  terminate(id, r, 'canceled', 'canceled', keep(ARGV[3]))
  outcome = 'canceled'
elseif r.status == 'processing' then
  redis.call('HSET', tkey(id), 'cancel', '1')
  outcome = 'requested'
else
  outcome = 'finished'
end
return {{outcome, task_json(id)}, EVENTS}
