-- purge.lua: delete completed jobs past retention and archived jobs beyond the caps.
-- KEYS[1] completed  KEYS[2] archived
-- ARGV[1] scope  ARGV[2] now  ARGV[3] archive max size  ARGV[4] oldest archived_at kept
-- ARGV[5] batch (most bodies deleted per call)
-- Reply: the number of job records deleted. Trimmed jobs release their unique locks; the
-- jobs waiting for a trimmed archived job apply their policies; deleted ids are announced on the queue's
-- finished channel.

local scope, now = ARGV[1], ARGV[2]
local max_size, batch = tonumber(ARGV[3]), tonumber(ARGV[5])
local deleted = 0
local finished = {}

local function drop(zset, ids)
  for _, id in ipairs(ids) do
    local key = job_key(scope, id)
    -- a damaged record (not a hash) is deleted all the same, never stopping the purge
    if redis.call('TYPE', key)['ok'] == 'hash' then
      release_unique(key, id)
    end
    redis.call('DEL', key)
    redis.call('ZREM', zset, id)
    settle_if_any(scope, id, 'gone', now)
    deleted = deleted + 1
    table.insert(finished, id)
  end
end

drop(KEYS[1], redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch))
drop(KEYS[2], redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[4], 'BYSCORE', 'LIMIT', 0, batch))
local excess = redis.call('ZCARD', KEYS[2]) - max_size
if excess > 0 then
  drop(KEYS[2], redis.call('ZRANGE', KEYS[2], 0, math.min(excess, batch) - 1))
end
announce_finished(scope, finished)
return deleted
