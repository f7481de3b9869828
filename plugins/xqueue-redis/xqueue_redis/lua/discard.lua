-- discard: ARGV[2..] task ids to delete (created but never published).
for i = 2, #ARGV do
  purge(ARGV[i])
end
return {0, EVENTS}
