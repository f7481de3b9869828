-- Publish messages: KEYS are the band streams; ARGV[1] is one JSON list of
-- [band index (1-based into KEYS), task id, type, priority] per message.
-- (One argument for the whole batch: the client encodes it in one call, and Redis
-- parses one argument instead of a command per message.)
for _, m in ipairs(cjson.decode(ARGV[1])) do
  redis.call('XADD', KEYS[m[1]], '*', 'id', m[2], 'type', m[3], 'priority', m[4])
end
return #KEYS
