-- Acknowledge entries, then trim each stream acked on to the lowest id any group
-- still needs (its oldest pending entry, or the first not yet delivered): an
-- entry leaves the stream once it and every entry before it are acknowledged.
-- Trimming from the head costs Redis far less per entry than an XDEL of each.
-- KEYS: the band streams; ARGV[1] the group, then per key a count and that many ids.
local group = ARGV[1]
local at = 2
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  if n > 0 then
    redis.call('XACK', key, group, unpack(ARGV, at + 1, at + n))
    local keep = needed_from(key)
    if keep ~= nil then redis.call('XTRIM', key, 'MINID', keep) end
  end
  at = at + 1 + n
end
return 0
