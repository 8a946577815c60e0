-- reclaim_staged.lua: give the members of staging sets past their deadline back to
-- their groups (their aggregation crashed or failed).
-- KEYS[1] staging  KEYS[2] groups
-- ARGV[1] scope  ARGV[2] now
-- Reply: the number of members given back.

local scope = ARGV[1]
local returned = 0
for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE')) do
  local sep = string.find(entry, ':', 1, true)
  local set_id, group = string.sub(entry, 1, sep - 1), string.sub(entry, sep + 1)
  local gkey = scope .. 'g:' .. group
  local staged = gkey .. ':s:' .. set_id
  local members = redis.call('ZRANGE', staged, 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    local key = job_key(scope, members[i])
    -- a member an operator ran, archived or deleted meanwhile is no longer staged here
    if redis.call('HGET', key, 'staged') == set_id then
      redis.call('HDEL', key, 'staged')
      redis.call('ZADD', gkey, members[i + 1], members[i])
      redis.call('SADD', KEYS[2], group)
      returned = returned + 1
    end
  end
  redis.call('DEL', staged)
  redis.call('ZREM', KEYS[1], entry)
end
return returned
