-- create: ARGV[2] publish_grace, ARGV[3] a JSON list with one entry per task, all text:
-- [id, type, payload, priority, max_retry, queue_timeout, process_timeout, eta or '',
-- idempotency key or false, flow key or false, schedule or false, scheduled_for or '',
-- depends_on (JSON text) or false, on_parent_failure or false, workflow id or false,
-- replay_of or false, and for create_and_publish the 1-based index of its band's stream among KEYS[2..]], ARGV[4]
-- retention (of a task canceled at once: a parent ended other than success). (One
-- argument for the whole batch: the client encodes it in one call.)
-- Returns {now, results}: per task {1} (new, pending), {3, task} (new, waiting or
-- canceled), {0, task} (idempotency key used) or {2, task} (this id exists: the same
-- call retried after a lost reply); or {now, false, id} when a task to be created has
-- a depends_on naming a task that is neither stored nor created earlier in the list
-- (one whose idempotency key is used is not created), or {now, false, false} when
-- some members of a workflow have idempotency keys in use (or its id has members)
-- and others not (another graph under the same key): then nothing is written.
local grace = tonumber(ARGV[2])
local retention = keep(ARGV[4] or '0')
local rows = cjson.decode(ARGV[3])

-- The task that already holds this row's idempotency key (nil: none).
local function holder(t)
  if t[9] == false then return nil end
  local other = redis.call('HGET', P .. 'idem', t[9])
  if other and redis.call('EXISTS', tkey(other)) == 1 then return other end
  return nil
end

local listed, existing, keyed, whole = {}, {}, {}, {}
for i, t in ipairs(rows) do
  existing[i] = holder(t)
  if t[15] ~= false and t[9] ~= false then -- a keyed member of a workflow
    local kinds = whole[t[15]]
    if not kinds then -- members of it already stored count as used keys
      kinds = {old = redis.call('EXISTS', P .. 'wf:' .. t[15]) == 1 or nil}
    end
    kinds[existing[i] and 'old' or 'new'] = true
    if kinds.old and kinds.new then return {{NOW_S, false, false}, {}} end
    whole[t[15]] = kinds
  end
  if not existing[i] and not (t[9] ~= false and keyed[t[9]]) then
    if t[9] ~= false then keyed[t[9]] = true end
    if t[13] then
      for _, pid in ipairs(cjson.decode(t[13])) do
        if not listed[pid] and redis.call('EXISTS', tkey(pid)) == 0 then
          return {{NOW_S, false, pid}, {}}
        end
      end
    end
    listed[t[1]] = true
  end
end
local out = {}
local typed = {}
for i, t in ipairs(rows) do
  local id = t[1]
  local k = tkey(id)
  if redis.call('EXISTS', k) == 1 then
    out[#out + 1] = {2, task_json(id)}
  elseif existing[i] or holder(t) then -- (held before, or by a row before it here)
    out[#out + 1] = {0, task_json(existing[i] or holder(t))}
  elseif insert_task(t, grace, typed, retention) == 'pending' then
    out[#out + 1] = {1}
  else
    out[#out + 1] = {3, task_json(id)}
  end
end
return {{NOW_S, out}, {}}
