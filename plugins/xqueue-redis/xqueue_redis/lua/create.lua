-- create: ARGV[2] publish_grace, ARGV[3] a JSON list with one entry per task, all text:
-- [id, type, payload, priority, max_retry, queue_timeout, process_timeout, eta or '',
-- idempotency key or false, flow key or false, schedule or false, scheduled_for or '',
-- and for create_and_publish the 1-based index of its band's stream among KEYS[2..]]. (One argument for the whole batch: the
-- client encodes it in one call.)
-- Returns {now, results}: per task {1} (new), {0, task} (idempotency key used) or
-- {2, task} (this id exists: the same call retried after a lost reply).
local grace = tonumber(ARGV[2])
local out = {}
local typed = {}
for _, t in ipairs(cjson.decode(ARGV[3])) do
  local id, ikey = t[1], t[9]
  local has_key = ikey ~= false
  local k = tkey(id)
  local existing = nil
  if has_key then
    local other = redis.call('HGET', P .. 'idem', ikey)
    if other and redis.call('EXISTS', tkey(other)) == 1 then existing = other end
  end
  if redis.call('EXISTS', k) == 1 then
    out[#out + 1] = {2, task_json(id)}
  elseif existing then
    out[#out + 1] = {0, task_json(existing)}
  else
    insert_task(t, grace, typed)
    out[#out + 1] = {1}
  end
end
return {{NOW_S, out}, {}}
