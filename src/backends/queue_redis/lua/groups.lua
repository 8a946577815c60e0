-- groups.lua: the queue's groups with their sizes.
-- KEYS[1] groups
-- ARGV[1] scope
-- Reply: a flat list: name, size, name, size, ...

local reply = {}
for _, g in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  table.insert(reply, g)
  table.insert(reply, redis.call('ZCARD', ARGV[1] .. 'g:' .. g))
end
return reply
