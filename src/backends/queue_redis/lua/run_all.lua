-- run_all.lua: move up to a batch of jobs from one container (scheduled, retry, archived,
-- waiting, or one group) to the tail of pending (waiting jobs released by hand).
-- KEYS[1] source container  KEYS[2] pending  KEYS[3] groups
-- ARGV[1] scope  ARGV[2] now  ARGV[3] batch  ARGV[4] group name or ''  ARGV[5] notify channel
-- Reply: { moved, notified (1/0) }. Callers repeat while moved == batch.
-- Running a job again withdraws an earlier cancel request (its 'cancel' flag).

local scope, now, batch, group = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local waiting = KEYS[1] == scope .. 'waiting'
local ids = redis.call('ZRANGE', KEYS[1], 0, batch - 1)
for _, id in ipairs(ids) do
  if waiting then leave_waiting(scope, id) end
  redis.call('ZREM', KEYS[1], id)
  local key = job_key(scope, id)
  redis.call('HSET', key, 'state', 'pending', 'pending_since', now)
  redis.call('HDEL', key, 'cancel')
  redis.call('LPUSH', KEYS[2], id)
end
if group ~= '' and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], group)
end
return { #ids, wake(KEYS[2], #ids, ARGV[5]) }
