-- finish: ARGV[2] retention, ARGV[3] a JSON list with one entry per run:
-- [id, worker, kind, error or false, result JSON text or false, retry_delay].
-- (One argument for the whole batch: the client encodes it in one call.)
-- Returns a 1/0 per run: applied (the worker still owned the task) or not.
local retention = keep(ARGV[2])
local applied = {}
for _, run in ipairs(cjson.decode(ARGV[3])) do
  local id, worker, kind = run[1], run[2], run[3]
  local err = run[4] or nil
  local result = run[5] or nil
  local r = load(id, FINISH_FIELDS)
  if not r or r.status ~= 'processing' or r.worker_id ~= worker then
    applied[#applied + 1] = 0
  else
    if kind == 'retry' then
      to_pending(id, r, NOW + tonumber(run[6]), err, tonumber(r.retry) + 1)
    elseif kind == 'release' then
      to_pending(id, r, nil, r.error, tonumber(r.retry))
    else
      terminate(id, r, kind, err, retention, result)
    end
    wake_one(r.type)
    applied[#applied + 1] = 1
  end
end
return {applied, EVENTS}
