-- create: ARGV[2] publish_grace, ARGV[3] a JSON list with one entry per task, all text:
-- [id, type, payload, priority, max_retry, queue_timeout, process_timeout, eta or '',
-- idempotency key or false, flow key or false, schedule or false, scheduled_for or '',
-- depends_on (JSON text) or false, on_parent_failure or false, workflow id or false,
-- and for create_and_publish the 1-based index of its band's stream among KEYS[2..]], ARGV[4]
-- retention (of a task canceled at once: a parent ended other than success). (One
-- argument for the whole batch: the client encodes it in one call.)
-- Returns {now, results}: per task {1} (new, pending), {3, task} (new, waiting or
-- canceled), {0, task} (idempotency key used) or {2, task} (this id exists: the same
-- call retried after a lost reply); or {now, false, id} when a depends_on names a task
-- that is neither stored nor earlier in the list: then nothing is written.
local grace = tonumber(ARGV[2])
local retention = tonumber(ARGV[4] or '0')
local rows = cjson.decode(ARGV[3])
local listed = {}
for _, t in ipairs(rows) do
  if t[13] then
    for _, pid in ipairs(cjson.decode(t[13])) do
      if not listed[pid] and redis.call('EXISTS', tkey(pid)) == 0 then
        return {{NOW_S, false, pid}, {}}
      end
    end
  end
  listed[t[1]] = true
end
local out = {}
local typed = {}
for _, t in ipairs(rows) do
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
  elseif insert_task(t, grace, typed, retention) == 'pending' then
    out[#out + 1] = {1}
  else
    out[#out + 1] = {3, task_json(id)}
  end
end
return {{NOW_S, out}, {}}
