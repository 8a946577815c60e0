-- commit_staged.lua: atomically enqueue the aggregate job and delete the staged members,
-- so a staging set is aggregated at most once even if its worker crashes.
-- KEYS[1] the staging set  KEYS[2] staging  KEYS[3] pending  KEYS[4] scheduled  KEYS[5] groups
-- ARGV[1] scope  ARGV[2] group  ARGV[3] set id  ARGV[4] now  ARGV[5] notify channel
-- then the enqueue values of the aggregate job (see enqueue.lua)
-- Reply: { code (0 enqueued, 1 id conflict, 2 duplicate, 3 stale: the set was reclaimed,
--          committed, reached its deadline (<= now, as reclaim_staged judges it), or an
--          operator took a member out of it),
--          holder or '', notified (1/0) }
-- The deleted members are announced as finished.

local scope, group, set_id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local entry = set_id .. ':' .. group
local deadline = redis.call('ZSCORE', KEYS[2], entry)
if not deadline or tonumber(deadline) <= tonumber(now) then
  return { 3, '', 0 }
end
local code, holder, pending_length = store_job(scope, KEYS[3], KEYS[4], KEYS[5], now, 5)
local pushed = pending_length > 0 and 1 or 0
if code ~= 0 then
  -- due for reclaim now: the members go back to their group at the next recovery pass
  redis.call('ZADD', KEYS[2], 'XX', now, entry)
  return { code, holder, 0 }
end
redis.call('ZREM', KEYS[2], entry)
local finished = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = job_key(scope, id)
  if redis.call('HGET', key, 'staged') == set_id then
    release_unique(key, id)
    redis.call('DEL', key)
    settle_if_any(scope, id, 'gone', now)
    table.insert(finished, id)
  end
end
redis.call('DEL', KEYS[1])
announce_finished(scope, finished)
return { 0, '', wake(KEYS[3], pushed, ARGV[5]) }
