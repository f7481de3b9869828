-- report_progress: ARGV[2] id, ARGV[3] worker, ARGV[4] progress. Returns 1 if stored.
local id = ARGV[2]
local r = load(id)
if not r or r.status ~= 'processing' or r.worker_id ~= ARGV[3] then
  return {0, EVENTS}
end
write(id, r, {'progress', ARGV[4], 'updated_at', NOW_S}, {})
emit(id, r, 'progress')
return {1, EVENTS}
