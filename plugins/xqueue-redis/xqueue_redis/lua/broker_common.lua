-- Shared prelude of every broker script (prepended to each one).

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

-- The lowest id of `key` any group may still need: per group its oldest pending
-- entry, or the first entry after its last-delivered id. Everything below it is
-- acknowledged by every group. Also returns the groups (XINFO GROUPS, as maps).
-- Nil (and no groups) when the stream is not there.
local function needed_from(key)
  local keep = nil
  local groups = {}
  if redis.call('EXISTS', key) == 0 then return nil, groups end
  for _, row in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local g = fields(row)
    groups[#groups + 1] = g
    local ms, seq = split(g['last-delivered-id'])
    local bound = string.format('%.0f-%.0f', ms, seq + 1)
    if tonumber(g['pending']) > 0 then
      local summary = redis.call('XPENDING', key, g['name'])
      if less(summary[2], bound) then bound = summary[2] end
    end
    if keep == nil or less(bound, keep) then keep = bound end
  end
  return keep, groups
end
