-- workers: ARGV[2] 'report' with ARGV[3] a worker's record (JSON) and ARGV[4] its ttl,
-- or 'forget' with ARGV[3] a worker id, or 'list'. Keys: workers (hash id -> record),
-- workers:exp (zset id -> when it counts as gone). A report keeps the first report's
-- started_at and stamps last_seen and expires_at with the server's clock and drops
-- the expired ones; list reads the live ones. Returns {records (list only), EVENTS}.
local all, exp = P .. 'workers', P .. 'workers:exp'
local function drop_gone()
  local gone = redis.call('ZRANGEBYSCORE', exp, '-inf', NOW_S)
  if #gone > 0 then
    redis.call('HDEL', all, unpack(gone))
    redis.call('ZREM', exp, unpack(gone))
  end
end
local op = ARGV[2]
if op == 'report' then
  drop_gone()
  local w = cjson.decode(ARGV[3])
  local before = redis.call('HGET', all, w.id)
  w.started_at = before and cjson.decode(before).started_at or NOW
  w.last_seen = NOW
  w.expires_at = NOW + tonumber(ARGV[4])
  redis.call('HSET', all, w.id, cjson.encode(w))
  redis.call('ZADD', exp, num(w.expires_at), w.id)
  return {0, EVENTS}
elseif op == 'forget' then
  redis.call('HDEL', all, ARGV[3])
  redis.call('ZREM', exp, ARGV[3])
  return {0, EVENTS}
end
local ids = redis.call('ZRANGEBYSCORE', exp, '(' .. NOW_S, '+inf') -- live ones (a read)
table.sort(ids)
if #ids == 0 then return {{}, EVENTS} end
return {redis.call('HMGET', all, unpack(ids)), EVENTS}
