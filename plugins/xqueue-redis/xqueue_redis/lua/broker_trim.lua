-- Upkeep of the band streams; never removes an entry some group has not acknowledged.
-- 1. XTRIM MINID to the lowest id any group may still need (acks trim already:
--    this catches anything left behind, e.g. by a lost ack).
-- 2. Deletes consumers with no pending entries that were idle for ARGV[1] ms
--    (workers that stopped), except ARGV[2] (the caller).
-- Returns {entries trimmed, consumers deleted}.
local idle_limit, me = tonumber(ARGV[1]), ARGV[2]
local trimmed, deleted = 0, 0

for _, key in ipairs(KEYS) do
  local keep, groups = needed_from(key)
  for _, g in ipairs(groups) do
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
return {trimmed, deleted}
