-- mark_queued: ARGV[2] recheck (seconds; 0: trust the broker), ARGV[3..] task ids
-- whose messages are on the broker. With a recheck, a task still not started then is
-- handed out by take_due again instead of being forgotten by it.
-- Only a publisher's hold (a `pub` entry still in the future: create's grace, take_due's
-- hold) is replaced. An entry due by now was put there after the publish — a claim
-- parked the task and a finish woke it, a run was released — and is then the task's
-- only way back to a worker: it stays.
local recheck = tonumber(ARGV[2])
local again = recheck > 0 and num(NOW + recheck) or nil
for i = 3, #ARGV do
  local id = ARGV[i]
  local held = redis.call('ZSCORE', P .. 'pub', id)
  if held and tonumber(held) > NOW then
    local h = redis.call('HMGET', tkey(id), 'status', 'parked', 'eta', 'type', 'key')
    local reserved = false -- a moment a wake-up reserved under a rate (also ahead)
    local bs = h[4] and rate_buckets(h[4], key_of({key = h[5]}))
    if bs then
      for _, b in ipairs(bs) do
        if redis.call('ZSCORE', b[1], id) then reserved = true end
      end
    end
    if h[1] == 'pending' and not h[2] and not reserved and (not h[3] or tonumber(h[3]) <= NOW) then
      if again then
        redis.call('ZADD', P .. 'pub', again, id)
      else
        redis.call('ZREM', P .. 'pub', id)
      end
    end
  end
end
return {0, EVENTS}
