-- set_key_limit: ARGV[2] type, ARGV[3] key ('' for the default of every key of the
-- type, kept under '*'), ARGV[4] limit or '' to remove it. Keys at their limits that
-- now have free slots may be woken again, and parked tasks that fit are woken.
local typ, key, limit = ARGV[2], ARGV[3], ARGV[4]
local h = P .. 'klimits:' .. typ
local field = key == '' and '*' or key
local had = redis.call('EXISTS', h) == 1
if limit == '' then
  redis.call('HDEL', h, field)
else
  redis.call('HSET', h, field, limit)
end
local has = redis.call('EXISTS', h) == 1
HAS_KLIMITS[typ] = has
if has ~= had then
  -- runs keep their keys' token sets only while the type has key limits: build them
  -- from the type's tokens (every run there, live or not yet reclaimed), or drop them;
  -- O(runs of the type), once
  local run = P .. 'run:' .. typ
  local flat = redis.call('ZRANGE', run, 0, -1, 'WITHSCORES')
  for i = 1, #flat, 2 do
    local k = key_of({key = redis.call('HGET', tkey(flat[i]), 'key')})
    if k then
      if has then
        redis.call('ZADD', kkey('runk', typ, k), flat[i + 1], flat[i])
      else
        redis.call('DEL', kkey('runk', typ, k))
      end
    end
  end
  redis.call(has and 'SADD' or 'SREM', P .. 'klimits', typ)
end
local blocked = P .. 'pb:' .. typ
if key == '' or not has then
  -- every key at its limit may have more room now: O(keys at their limits), an
  -- operator's step (a key whose limit was lowered is moved by the next wake-up)
  unblock_keys(typ, redis.call('ZRANGE', blocked, 0, -1))
elseif redis.call('ZSCORE', blocked, key) then
  unblock_keys(typ, {key})
end
local cap = limit_of(typ)
wake_parked(typ, cap and (cap - running(typ)) or nil)
return {0, EVENTS}
