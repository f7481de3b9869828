-- report_progress: ARGV[2] id, ARGV[3] worker, ARGV[4] progress. Returns 1 if stored.
local id = ARGV[2]
local h = redis.call('HMGET', tkey(id), 'status', 'worker_id')
if h[1] ~= 'processing' or h[2] ~= ARGV[3] then
  return {0, EVENTS}
end
redis.call('HSET', tkey(id), 'progress', ARGV[4], 'updated_at', num(NOW))
emit(id, 'progress')
return {1, EVENTS}
