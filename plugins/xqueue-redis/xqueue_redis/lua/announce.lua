-- announce: ARGV[2] worker, then pairs ARGV[3..]: type, its handler defaults (JSON).
for i = 3, #ARGV, 2 do
  redis.call('HSET', P .. 'types', ARGV[i], num(NOW))
  redis.call('HSET', P .. 'types:w', ARGV[i], ARGV[2])
  redis.call('HSET', P .. 'types:d', ARGV[i], ARGV[i + 1])
end
return {0, EVENTS}
