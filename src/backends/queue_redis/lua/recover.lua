-- recover.lua: reclaim active jobs of one queue whose lease expired, and active jobs
-- that have no lease entry at all (lost to eviction or a failover).
-- KEYS[1] active  KEYS[2] lease  KEYS[3] pending  KEYS[4] archived  KEYS[5] processed
-- KEYS[6] failed  KEYS[7] processed:<day>  KEYS[8] failed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] max crashes  ARGV[4] counter ttl (s)
-- ARGV[5] notify channel
-- Reply: { {requeued ids}, {archived ids}, notified (1/0) }.
-- Archived ids are announced on the queue's finished channel.
-- Each job is claimed inside this script, so two workers never recover it twice.
-- A damaged record never stops the pass (that would strand every other expired job of
-- the queue): a crash counter that is not a number counts as 0, and a job key that is not
-- a hash is archived as a malformed record (a string's bytes kept in field 'raw').

local scope, now, ttl, channel = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local max_crashes = tonumber(ARGV[3])
-- expired leases (expiry <= now: score >= -now), earliest expiry first, ties by id
local expired = redis.call('ZRANGE', KEYS[2], lease_score(now), '+inf', 'BYSCORE', 'WITHSCORES')
local order = {}
for i = 1, #expired, 2 do
  table.insert(order, { expired[i], tonumber(expired[i + 1]) })
end
table.sort(order, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[1] < b[1]
end)
local candidates = {}
for _, entry in ipairs(order) do
  table.insert(candidates, entry[1])
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not redis.call('ZSCORE', KEYS[2], id) then
    table.insert(candidates, id)
  end
end

local requeued, archived = {}, {}
local released = 0
for _, id in ipairs(candidates) do
  local key = job_key(scope, id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'hash' then
    local crashes = (tonumber(redis.call('HGET', key, 'crashes')) or 0) + 1
    redis.call('HDEL', key, 'lease')
    redis.call('HSET', key, 'crashes', crashes, 'last_error', 'lease expired', 'last_failed_at', now)
    if crashes > max_crashes then
      redis.call('HSET', key, 'state', 'archived', 'archived_at', now,
        'last_error', 'lease expired ' .. crashes .. ' times (the job may crash its worker)')
      redis.call('ZADD', KEYS[4], now, id)
      table.insert(archived, id)
      released = released + settle_if_any(scope, id, 'archived', now)
    else
      redis.call('HSET', key, 'state', 'pending', 'pending_since', now)
      redis.call('RPUSH', KEYS[3], id)
      table.insert(requeued, id)
    end
    count(KEYS[5], KEYS[7], ttl)
    count(KEYS[6], KEYS[8], ttl)
  elseif kind ~= 'none' then
    quarantine(key, id, kind, KEYS[4], now)
    table.insert(archived, id)
    count(KEYS[5], KEYS[7], ttl)
    count(KEYS[6], KEYS[8], ttl)
  end
end
announce_finished(scope, archived)
return { requeued, archived, wake(KEYS[3], #requeued + released, channel) }
