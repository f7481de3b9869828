-- key_limits: {type, {key, limit, ...}, ...} for the types with key limits ('*': the
-- default of every key of the type).
local out = {}
for _, typ in ipairs(redis.call('SMEMBERS', P .. 'klimits')) do
  local flat = redis.call('HGETALL', P .. 'klimits:' .. typ)
  if #flat > 0 then out[#out + 1] = typ; out[#out + 1] = flat end
end
return {out, EVENTS}
