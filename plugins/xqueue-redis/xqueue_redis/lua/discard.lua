-- discard: ARGV[2..] task ids to delete (created but never published).
for i = 2, #ARGV do
  local r = load(ARGV[i])
  if r then purge(ARGV[i], r) end
end
return {0, EVENTS}
