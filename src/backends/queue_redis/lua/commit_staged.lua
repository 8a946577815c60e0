-- commit_staged.lua: atomically enqueue the aggregate job and delete the staged members,
-- so a staging set is aggregated at most once even if its worker crashes.
-- KEYS[1] the staging set  KEYS[2] staging  KEYS[3] pending  KEYS[4] scheduled  KEYS[5] groups
-- ARGV[1] scope  ARGV[2] group  ARGV[3] set id  ARGV[4] now  ARGV[5] notify channel
-- then the 15 enqueue values of the aggregate job (see enqueue.lua)
-- Reply: { code (0 enqueued, 1 id conflict, 2 duplicate, 3 the set is gone: reclaimed
--          or already committed), holder or '', notified (1/0) }

local scope, group, set_id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('ZREM', KEYS[2], set_id .. ':' .. group) == 0 then
  return { 3, '', 0 }
end
local code, holder, pushed = store_job(scope, KEYS[3], KEYS[4], KEYS[5], now, 5)
if code ~= 0 then
  -- put the registration back: the members stay staged until reclaimed
  redis.call('ZADD', KEYS[2], now, set_id .. ':' .. group)
  return { code, holder, 0 }
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = job_key(scope, id)
  release_unique(key, id)
  redis.call('DEL', key)
end
redis.call('DEL', KEYS[1])
return { 0, '', wake(KEYS[3], pushed, ARGV[5]) }
