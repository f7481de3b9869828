-- Upkeep of the band streams; never removes an entry some group has not acknowledged.
-- 1. XTRIM MINID to the lowest id any group may still need: the oldest pending
--    entry, or the first entry after the group's last-delivered id. (Acks delete
--    their entries already; this catches anything left behind.)
-- 2. Deletes consumers with no pending entries that were idle for ARGV[1] ms
--    (workers that stopped), except ARGV[2] (the caller).
-- Returns {entries trimmed, consumers deleted}.
local idle_limit, me = tonumber(ARGV[1]), ARGV[2]
local trimmed, deleted = 0, 0

local function split(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end

local function less(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  return am < bm or (am == bm and as < bs)
end

local function fields(row)
  local map = {}
  for i = 1, #row, 2 do map[row[i]] = row[i + 1] end
  return map
end

for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local keep = nil
    for _, row in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      local g = fields(row)
      local ms, seq = split(g['last-delivered-id'])
      local bound = string.format('%.0f-%.0f', ms, seq + 1)
      if tonumber(g['pending']) > 0 then
        local summary = redis.call('XPENDING', key, g['name'])
        if less(summary[2], bound) then bound = summary[2] end
      end
      if keep == nil or less(bound, keep) then keep = bound end
      for _, crow in ipairs(redis.call('XINFO', 'CONSUMERS', key, g['name'])) do
        local c = fields(crow)
        if c['name'] ~= me and tonumber(c['pending']) == 0 and tonumber(c['idle']) > idle_limit then
          redis.call('XGROUP', 'DELCONSUMER', key, g['name'], c['name'])
          deleted = deleted + 1
        end
      end
    end
    if keep ~= nil then
      trimmed = trimmed + redis.call('XTRIM', key, 'MINID', keep)
    end
  end
end
return {trimmed, deleted}
