-- announce: ARGV[2] worker, ARGV[3..] types it handles.
for i = 3, #ARGV do
  redis.call('HSET', P .. 'types', ARGV[i], num(NOW))
  redis.call('HSET', P .. 'types:w', ARGV[i], ARGV[2])
end
return {0, EVENTS}
