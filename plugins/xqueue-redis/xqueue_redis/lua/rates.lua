-- rates: every type's rates, {type, {target, rate, ...}, ...} (see set_rate).
local out = {}
for _, typ in ipairs(redis.call('SMEMBERS', P .. 'rated')) do
  out[#out + 1] = typ
  out[#out + 1] = redis.call('HGETALL', P .. 'rates:' .. typ)
end
return {out, EVENTS}
