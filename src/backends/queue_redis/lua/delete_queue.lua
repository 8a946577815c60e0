-- delete_queue.lua: remove a queue's jobs and structures.
-- KEYS[1] pending  KEYS[2] active  KEYS[3] scheduled  KEYS[4] retry  KEYS[5] archived
-- KEYS[6] completed  KEYS[7] groups  KEYS[8] staging  KEYS[9] paused  KEYS[10] meta
-- KEYS[11] processed  KEYS[12] failed  KEYS[13] lease  KEYS[14] waiting
-- ARGV[1] scope  ARGV[2] force ('1'/'0')
-- Reply: 'active' (refused: jobs are running), 'not_empty' (refused without force) or 'ok'.
-- Deleted job ids are announced as finished. Daily counters are left to expire on their own.

local scope, force = ARGV[1], ARGV[2] == '1'
if redis.call('ZCARD', KEYS[2]) > 0 then return 'active' end
local groups = redis.call('SMEMBERS', KEYS[7])
if not force then
  if redis.call('LLEN', KEYS[1]) > 0 or #groups > 0 then return 'not_empty' end
  for _, k in ipairs({ 3, 4, 5, 14 }) do
    if redis.call('ZCARD', KEYS[k]) > 0 then return 'not_empty' end
  end
end
local finished = {}
local function drop(ids)
  for _, id in ipairs(ids) do
    table.insert(finished, id)
    local key = job_key(scope, id)
    release_unique(key, id)
    redis.call('DEL', key, dependents_key(scope, id))
  end
end
drop(redis.call('LRANGE', KEYS[1], 0, -1))
for _, k in ipairs({ 3, 4, 5, 6, 14 }) do drop(redis.call('ZRANGE', KEYS[k], 0, -1)) end
for _, g in ipairs(groups) do
  drop(redis.call('ZRANGE', scope .. 'g:' .. g, 0, -1))
  redis.call('DEL', scope .. 'g:' .. g)
end
-- staging entries are '<set id>:<group>'; the set itself is Q:g:<group>:s:<set id>
for _, entry in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do
  local sep = string.find(entry, ':', 1, true)
  local set = scope .. 'g:' .. string.sub(entry, sep + 1) .. ':s:' .. string.sub(entry, 1, sep - 1)
  drop(redis.call('ZRANGE', set, 0, -1))
  redis.call('DEL', set)
end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
  KEYS[11], KEYS[12], KEYS[13], KEYS[14])
announce_finished(scope, finished)
return 'ok'
