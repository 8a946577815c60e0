-- archive_all.lua: archive up to a batch of jobs from one container (pending, scheduled,
-- retry, waiting, or one group); the jobs waiting for each apply their policies. From the
-- waiting set, the jobs those policies move out of waiting are archived too (bulk_waiting).
-- KEYS[1] source container  KEYS[2] archived  KEYS[3] groups
-- ARGV[1] scope  ARGV[2] now  ARGV[3] batch  ARGV[4] 'list' or 'zset'  ARGV[5] group or ''
-- Archived ids are announced as finished. Reply: the number archived (more than the batch
-- when jobs were taken along). Callers repeat while it is at least the batch.

local scope, now, batch, kind, group = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local waiting = KEYS[1] == scope .. 'waiting'
local ids
if kind == 'list' then
  ids = take_head(KEYS[1], batch)
else
  ids = redis.call('ZRANGE', KEYS[1], 0, batch - 1)
  if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
end
local archived = {}
local function archive(id, moved)
  -- a waiting job cancelled by an earlier one of the batch is archived (and announced)
  -- already: it counts, and is not archived twice
  if not waiting or leave_taken_waiting(scope, id) ~= 'archived' then
    redis.call('HSET', job_key(scope, id), 'state', 'archived', 'archived_at', now)
    redis.call('ZADD', KEYS[2], now, id)
    settle_if_any(scope, id, 'archived', now, nil, moved)
    table.insert(archived, id)
  end
end
local acted = #ids
if waiting then
  acted = #bulk_waiting(ids, archive)
else
  for _, id in ipairs(ids) do archive(id, nil) end
end
if group ~= '' and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], group)
end
announce_finished(scope, archived)
return acted
