-- finish: ARGV[2] retention, then 8 values per run:
-- id, worker, kind, has_error, error, has_result, result, retry_delay.
-- Returns a 1/0 per run: applied (the worker still owned the task) or not.
local retention = tonumber(ARGV[2])
local applied = {}
for b = 3, #ARGV, 8 do
  local id, worker, kind = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local err = ARGV[b + 3] == '1' and ARGV[b + 4] or nil
  local result = ARGV[b + 5] == '1' and ARGV[b + 6] or nil
  local h = redis.call('HMGET', tkey(id), 'status', 'worker_id', 'type', 'retry', 'error')
  if h[1] ~= 'processing' or h[2] ~= worker then
    applied[#applied + 1] = 0
  else
    if kind == 'retry' then
      to_pending(id, NOW + tonumber(ARGV[b + 7]), err, tonumber(h[4]) + 1)
    elseif kind == 'release' then
      to_pending(id, nil, h[5] or nil, tonumber(h[4]))
    else
      terminate(id, kind, err, retention, result)
    end
    wake_parked(h[3], 1)
    applied[#applied + 1] = 1
  end
end
return {applied, EVENTS}
