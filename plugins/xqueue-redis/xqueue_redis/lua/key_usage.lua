-- key_usage: ARGV[2] type. One snapshot of the type's keys: {key, running, waiting, ...}
-- for every key with a live run or a parked task, and the type's key limits
-- {key, limit, ...} ('*': the default). Runs are read from the type's tokens (one
-- HGET per live run), waiting tasks from the keys' parked queues (one ZCARD per key
-- with parked tasks): a read for a dashboard, not for a hot path.
local typ = ARGV[2]
local runs, keys = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'run:' .. typ, '(' .. NOW_S, '+inf')) do
  local key = key_of({key = redis.call('HGET', tkey(id), 'key')})
  if key then
    if not runs[key] then keys[#keys + 1] = key; runs[key] = 0 end
    runs[key] = runs[key] + 1
  end
end
local waiting = {}
for _, set in ipairs({'pk:', 'pb:'}) do
  for _, key in ipairs(redis.call('ZRANGE', P .. set .. typ, 0, -1)) do
    if not waiting[key] then
      local n = redis.call('ZCARD', kkey('pq', typ, key))
      if n > 0 then
        waiting[key] = n
        if not runs[key] then keys[#keys + 1] = key end
      end
    end
  end
end
local out = {}
for _, key in ipairs(keys) do
  out[#out + 1] = key; out[#out + 1] = runs[key] or 0; out[#out + 1] = waiting[key] or 0
end
return {{out, redis.call('HGETALL', P .. 'klimits:' .. typ)}, EVENTS}
