-- aggregation_check.lua: stage a ready group's members for aggregation.
-- KEYS[1] the group's zset  KEYS[2] groups  KEYS[3] staging
-- ARGV[1] scope  ARGV[2] group  ARGV[3] now  ARGV[4] grace  ARGV[5] max delay or ''
-- ARGV[6] max size or ''  ARGV[7] staging deadline  ARGV[8] new set id
-- Reply: the set id when members were staged, else ''.
-- Ready when: size >= max size (the oldest max size are taken); or the oldest member
-- waited >= max delay; or the newest waited >= grace (up to max size taken).

local scope, group, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local grace, max_delay, max_size = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local size = redis.call('ZCARD', KEYS[1])
if size == 0 then
  redis.call('SREM', KEYS[2], group)
  return ''
end
local ready = max_size and size >= max_size
if not ready and max_delay then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  ready = now - tonumber(oldest[2]) >= max_delay
end
if not ready then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  ready = now - tonumber(newest[2]) >= grace
end
if not ready then return '' end

local take = size
if max_size and max_size < size then take = max_size end
local members = redis.call('ZRANGE', KEYS[1], 0, take - 1, 'WITHSCORES')
local set_id = ARGV[8]
local staged = scope .. 'g:' .. group .. ':s:' .. set_id
for i = 1, #members, 2 do
  redis.call('ZADD', staged, members[i + 1], members[i])
  redis.call('ZREM', KEYS[1], members[i])
  -- an operator acting on a staged member finds it through this field
  redis.call('HSET', job_key(scope, members[i]), 'staged', set_id)
end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], group)
end
redis.call('ZADD', KEYS[3], ARGV[7], set_id .. ':' .. group)
return set_id
