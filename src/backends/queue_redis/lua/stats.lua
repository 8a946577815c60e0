-- stats.lua: one consistent snapshot of a queue's counts.
-- KEYS[1] pending  KEYS[2] active  KEYS[3] scheduled  KEYS[4] retry  KEYS[5] archived
-- KEYS[6] completed  KEYS[7] groups  KEYS[8] paused  KEYS[9] processed  KEYS[10] failed
-- KEYS[11] processed:<day>  KEYS[12] failed:<day>  KEYS[13] waiting
-- ARGV[1] scope
-- Reply: { pending, active, scheduled, retry, archived, completed, aggregating, groups,
--          paused (1/0), processed, failed, processed today, failed today,
--          pending_since of the head of pending or '', waiting }

local scope = ARGV[1]
local aggregating = 0
local groups = redis.call('SMEMBERS', KEYS[7])
for _, g in ipairs(groups) do
  aggregating = aggregating + redis.call('ZCARD', scope .. 'g:' .. g)
end
local since = ''
local head = redis.call('LINDEX', KEYS[1], -1)
if head and redis.call('TYPE', job_key(scope, head))['ok'] == 'hash' then
  -- a job pending since its enqueue has no pending_since (see store_job)
  local v = redis.call('HMGET', job_key(scope, head), 'pending_since', 'enqueued')
  since = v[1] or v[2] or ''
end
return {
  redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]), redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]),
  aggregating, #groups, redis.call('EXISTS', KEYS[8]),
  tonumber(redis.call('GET', KEYS[9]) or '0'), tonumber(redis.call('GET', KEYS[10]) or '0'),
  tonumber(redis.call('GET', KEYS[11]) or '0'), tonumber(redis.call('GET', KEYS[12]) or '0'),
  since, redis.call('ZCARD', KEYS[13]),
}
