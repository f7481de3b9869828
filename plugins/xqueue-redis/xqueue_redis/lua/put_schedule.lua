-- put_schedule: ARGV[2] name, ARGV[3] definition (JSON), ARGV[4] timing, ARGV[5] enabled
-- ('1'/'0'), ARGV[6] next tick, ARGV[7] '1' to only create, ARGV[8] code hash or '',
-- ARGV[9] overlap. Returns 1 (stored) or 0 (create, and the name is taken).
-- sched:<name> (hash) definition, timing, enabled, next_at, last_run, last_task_id,
-- code_hash, overlap; schedn (zset, lex) every name; schedq (zset) enabled name ->
-- next tick (what the tickers look at).
local name, definition, timing, enabled = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local next_at, create, code_hash, overlap = tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8], ARGV[9]
local h = P .. 'sched:' .. name
local old = redis.call('HMGET', h, 'timing', 'next_at', 'last_run')
if old[2] then
  if create then return {0, EVENTS} end
  -- only forward (an upsert racing a fire), unless the timing changed; never to a tick
  -- at or before the last fired one
  if old[1] == timing then next_at = math.max(next_at, tonumber(old[2])) end
  if old[3] and next_at <= tonumber(old[3]) then next_at = tonumber(old[2]) end
end
redis.call('HSET', h, 'definition', definition, 'timing', timing, 'enabled', enabled,
  'next_at', num(next_at), 'overlap', overlap)
if code_hash ~= '' then redis.call('HSET', h, 'code_hash', code_hash) else redis.call('HDEL', h, 'code_hash') end
redis.call('ZADD', P .. 'schedn', '0', name)
if enabled == '1' then
  redis.call('ZADD', P .. 'schedq', num(next_at), name)
else
  redis.call('ZREM', P .. 'schedq', name)
end
return {1, EVENTS}
