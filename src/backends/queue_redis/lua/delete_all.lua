-- delete_all.lua: delete up to a batch of jobs from one container (pending, scheduled,
-- retry, archived, completed, waiting, or one group), releasing the unique locks they
-- hold; the jobs waiting for each apply their policies. From the waiting set, the jobs
-- those policies move out of waiting are deleted too (bulk_waiting).
-- KEYS[1] source container  KEYS[2] groups
-- ARGV[1] scope  ARGV[2] batch  ARGV[3] 'list' or 'zset'  ARGV[4] group or ''  ARGV[5] now
-- Deleted ids are announced as finished. Reply: the number deleted (more than the batch
-- when jobs were taken along). Callers repeat while it is at least the batch.

local scope, batch, kind, group, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local waiting = KEYS[1] == scope .. 'waiting'
local ids
if kind == 'list' then
  ids = take_head(KEYS[1], batch)
else
  ids = redis.call('ZRANGE', KEYS[1], 0, batch - 1)
  if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
end
local function delete(id, moved)
  local key = job_key(scope, id)
  if waiting and leave_taken_waiting(scope, id) == 'archived' then
    redis.call('ZREM', scope .. 'archived', id)  -- cancelled by an earlier one of the batch
  end
  release_unique(key, id)
  redis.call('DEL', key)
  settle_if_any(scope, id, 'gone', now, nil, moved)
end
if waiting then
  ids = bulk_waiting(ids, delete)
else
  for _, id in ipairs(ids) do delete(id, nil) end
end
if group ~= '' and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], group)
end
announce_finished(scope, ids)
return #ids
