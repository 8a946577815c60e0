-- enqueue.lua: store N jobs of one queue, each pending, scheduled or aggregating.
-- KEYS[1] pending   KEYS[2] scheduled   KEYS[3] groups   KEYS[4] meta
-- ARGV[1] scope     ARGV[2] now         ARGV[3] notify channel   ARGV[4] N
-- then 15 values per job:
--   id, type, payload, max_retries, timeout, deadline, retention, group, headers,
--   state ('pending' | 'scheduled' | 'aggregating'), due_at, unique lock key or '',
--   unique lock held until (epoch s) or '', unique name or '', enqueued_at
-- Reply: { registered (1 when the queue's meta key was missing), notified (1/0),
--          then per job: code (0 enqueued, 1 id conflict, 2 duplicate), holder or '' }
-- A rejected job writes nothing (no lock is taken for an ID conflict).
-- Notifies (PUBLISH on the notify channel) when jobs were pushed to an empty pending
-- list, or when a scheduled job became the earliest of the queue's scheduled set, so
-- idle workers forward it when due instead of at their next periodic look.

local scope, now, channel, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local registered = 0
if redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('HSET', KEYS[4], 'created_at', now)
  registered = 1
end

local function earliest()
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return tonumber(head[2])
end
local due_before = earliest()

local reply = { registered, 0 }
local pushed = 0
for i = 0, n - 1 do
  local code, holder, was_pushed = store_job(scope, KEYS[1], KEYS[2], KEYS[3], now, 4 + i * 15)
  table.insert(reply, code)
  table.insert(reply, holder)
  pushed = pushed + was_pushed
end
reply[2] = wake(KEYS[1], pushed, channel)
if reply[2] == 0 then
  local due_after = earliest()
  if due_after and (not due_before or due_after < due_before) then
    redis.call('PUBLISH', channel, 'due')
    reply[2] = 1
  end
end
return reply
