-- create: ARGV[2] publish_grace, ARGV[3] a JSON list with one entry per task, all text:
-- [id, type, payload, priority, max_retry, queue_timeout, process_timeout, eta or '',
-- idempotency key or false, flow key or false, and for create_and_publish the 1-based
-- index of its band's stream among KEYS[2..]]. (One argument for the whole batch: the
-- client encodes it in one call.)
-- Returns {now, results}: per task {1} (new), {0, task} (idempotency key used) or
-- {2, task} (this id exists: the same call retried after a lost reply).
local grace = tonumber(ARGV[2])
local out = {}
local typed = {}
for _, t in ipairs(cjson.decode(ARGV[3])) do
  local id, typ = t[1], t[2]
  local qt, eta = t[6], t[8]
  local ikey = t[9]
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
    local fields = {'HSET', k, 'id', id, 'type', typ, 'status', 'pending',
      'payload', t[3], 'priority', t[4], 'retry', '0', 'max_retry', t[5],
      'queue_timeout', qt, 'process_timeout', t[7], 'created_at', NOW_S,
      'updated_at', NOW_S, 'redeliveries', '0'}
    -- due now: the submitter publishes it, `pub` is the fallback if it crashes first;
    -- delayed: the scheduler publishes it at its eta
    local publish_at = NOW + grace
    if eta ~= '' then
      fields[#fields + 1] = 'eta'; fields[#fields + 1] = eta
      publish_at = tonumber(eta)
    end
    if has_key then
      fields[#fields + 1] = 'idempotency_key'; fields[#fields + 1] = ikey
      redis.call('HSET', P .. 'idem', ikey, id)
    end
    if t[10] then fields[#fields + 1] = 'key'; fields[#fields + 1] = t[10] end
    if tonumber(qt) > 0 then
      local deadline = num(NOW + tonumber(qt))
      fields[#fields + 1] = 'deadline'; fields[#fields + 1] = deadline
      redis.call('ZADD', P .. 'dl', deadline, id)
    end
    redis.call(unpack(fields))
    redis.call('ZADD', P .. 'ys:' .. typ .. ':pending', '0', id)
    local stream = t[11]
    if stream and (eta == '' or tonumber(eta) <= NOW) then  -- due now
      -- create_and_publish: the message goes out in this same step (no fallback needed)
      redis.call('XADD', KEYS[1 + stream], '*', 'id', id, 'type', typ, 'priority', t[4])
    else
      redis.call('ZADD', P .. 'pub', num(publish_at), id)
    end
    redis.call('ZADD', P .. 'all', '0', id)
    redis.call('ZADD', P .. 'y:' .. typ, '0', id)
    if not typed[typ] then
      redis.call('SADD', P .. 'tt', typ)
      typed[typ] = true
    end
    -- the caller makes its own events for new tasks: only the log gets this one
    log_event({id, typ, 'pending', '0', false, false, false, NOW_S, 'status'})
    out[#out + 1] = {1}
  end
end
return {{NOW_S, out}, {}}
