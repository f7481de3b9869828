-- running: {type, tokens in use, ...} for types with live leases.
local out = {}
for _, typ in ipairs(redis.call('SMEMBERS', P .. 'tt')) do
  local n = running(typ)
  if n > 0 then out[#out + 1] = typ; out[#out + 1] = n end
end
return {out, EVENTS}
