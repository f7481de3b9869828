-- A consumer leaves the group: its unacknowledged entries are handed to the
-- consumer ARGV[3] with an idle time of ARGV[4] ms, so the next XAUTOCLAIM of any
-- live consumer takes them at once; then the consumer is deleted. Deleting a
-- consumer that still had entries would drop them from the pending list (never
-- delivered again), which is why they are moved first.
-- ARGV: group, consumer, orphan consumer, idle ms. Returns how many were handed over.
local group, consumer, orphans, idle = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local moved = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local ok = redis.pcall('XPENDING', key, group, '-', '+', 1000, consumer)
    if not (type(ok) == 'table' and ok.err) then
      while #ok > 0 do
        local ids = {}
        for i, row in ipairs(ok) do ids[i] = row[1] end
        redis.call('XCLAIM', key, group, orphans, 0, unpack(ids), 'IDLE', idle, 'JUSTID')
        moved = moved + #ids
        ok = redis.call('XPENDING', key, group, '-', '+', 1000, consumer)
      end
      redis.call('XGROUP', 'DELCONSUMER', key, group, consumer)
    end
  end
end
return moved
