-- Take up to ARGV[3] messages from the band streams, in the order of KEYS.
-- Per band: first entries a dead consumer left idle for ARGV[4] ms (XAUTOCLAIM,
-- skipped when ARGV[4] is 0), then new entries (XREADGROUP >). A missing group
-- (first use, or Redis restarted without persistence) is created at id 0, so
-- no entry already in the stream is skipped.
-- ARGV: group, consumer, count, min_idle_ms, then one XAUTOCLAIM cursor per key.
-- Returns {cursors, flat} with flat = key index, entry id, task id, type, priority, ...
local group, consumer = ARGV[1], ARGV[2]
local want = tonumber(ARGV[3])
local min_idle = tonumber(ARGV[4])
local out, cursors = {}, {}

local function run(key, ...)
  local reply = redis.pcall(...)
  if type(reply) == 'table' and reply.err then
    if string.find(reply.err, 'NOGROUP', 1, true) then
      redis.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM')
      return redis.call(...)
    end
    return error(reply)
  end
  return reply
end

local function take(index, key, entries)
  for _, entry in ipairs(entries) do
    local id, fields = entry[1], entry[2]
    local task, task_type, priority
    if fields then
      for j = 1, #fields, 2 do
        local name = fields[j]
        if name == 'id' then task = fields[j + 1]
        elseif name == 'type' then task_type = fields[j + 1]
        elseif name == 'priority' then priority = fields[j + 1] end
      end
    end
    if task and task_type then
      local n = #out
      out[n + 1], out[n + 2], out[n + 3] = index, id, task
      out[n + 4], out[n + 5] = task_type, priority or '0'
      want = want - 1
    else -- not an xqueue message: drop it rather than deliver it forever
      redis.call('XACK', key, group, id)
      redis.call('XDEL', key, id)
    end
  end
end

for index, key in ipairs(KEYS) do
  local cursor = ARGV[4 + index]
  if want > 0 and min_idle > 0 then
    local reply = run(key, 'XAUTOCLAIM', key, group, consumer, min_idle, cursor, 'COUNT', want)
    cursor = reply[1]
    take(index, key, reply[2])
  end
  cursors[index] = cursor
  if want > 0 then
    local reply = run(key, 'XREADGROUP', 'GROUP', group, consumer, 'COUNT', want,
      'STREAMS', key, '>')
    if reply then take(index, key, reply[1][2]) end
  end
end
return {cursors, out}
