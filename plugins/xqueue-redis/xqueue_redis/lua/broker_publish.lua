-- Append messages to the band streams (KEYS, in the layout's band order).
-- ARGV[1]: a JSON list with one [band index, task id, type, priority] per message,
-- all text but the index. One argument for the whole call: the client encodes it in
-- one go, where an XADD per message costs it an encoded command each.
-- Entries carry the same three field names as always (stored once per listpack node).
local messages = cjson.decode(ARGV[1])
for _, m in ipairs(messages) do
  redis.call('XADD', KEYS[m[1]], '*', 'id', m[2], 'type', m[3], 'priority', m[4])
end
return #messages
