-- key_weights: {type, {key, weight, ...}, ...} for the types with weights.
local out = {}
for _, typ in ipairs(redis.call('SMEMBERS', P .. 'kweighted')) do
  local flat = redis.call('HGETALL', P .. 'kweights:' .. typ)
  if #flat > 0 then out[#out + 1] = typ; out[#out + 1] = flat end
end
return {out, EVENTS}
