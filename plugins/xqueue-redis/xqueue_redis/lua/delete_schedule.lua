-- delete_schedule: ARGV[2] name. Returns 1 if there was one.
local name = ARGV[2]
local gone = redis.call('DEL', P .. 'sched:' .. name)
redis.call('ZREM', P .. 'schedn', name)
redis.call('ZREM', P .. 'schedq', name)
return {gone, EVENTS}
