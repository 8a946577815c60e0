-- enqueue.lua: store N jobs of one queue, each pending, scheduled or aggregating.
-- KEYS[1] pending   KEYS[2] scheduled   KEYS[3] groups   KEYS[4] meta
-- ARGV[1] scope     ARGV[2] now         ARGV[3] notify channel   ARGV[4] N
-- then per job 7 values and k optional pairs:
--   id, type, payload, max_retries,
--   state ('pending' | 'scheduled' | 'aggregating'), due_at ('' for now), k,
--   then k pairs (field, value), only for the fields that are set: timeout, deadline,
--   retention, group, headers, unique (the lock key), unique_until (the lock is held until,
--   epoch s; not stored), unique_name.
-- A field left out is not stored: readers take a missing field as ''.
-- Reply: { registered (1 when the queue's meta key was missing), notified (1/0),
--          then per job: code (0 enqueued, 1 id conflict, 2 duplicate), holder or '' }
-- A rejected job writes nothing (no lock is taken for an ID conflict).
-- Notifies (PUBLISH on the notify channel) when jobs were pushed to an empty pending
-- list, or when a scheduled job became the earliest of the queue's scheduled set, so
-- idle workers forward it when due instead of at their next periodic look.

local scope, now, channel, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local registered = redis.call('HSETNX', KEYS[4], 'created_at', now)

local function earliest()
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return tonumber(head[2])
end
-- Only a batch with a scheduled job can change the earliest scheduled time.
local looked, due_before = false, nil

local reply = { registered, 0 }
local pushed, length = 0, 0
local b = 4
for _ = 1, n do
  if not looked and ARGV[b + 5] == 'scheduled' then
    looked, due_before = true, earliest()
  end
  local code, holder, pending_length
  code, holder, pending_length, b = store_job(scope, KEYS[1], KEYS[2], KEYS[3], now, b)
  table.insert(reply, code)
  table.insert(reply, holder)
  if pending_length > 0 then
    pushed, length = pushed + 1, pending_length
  end
end
-- Pending holds only what this call pushed: it was empty, so workers may be idle.
if pushed > 0 and length == pushed then
  redis.call('PUBLISH', channel, '1')
  reply[2] = 1
elseif looked then
  local due_after = earliest()
  if due_after and (not due_before or due_after < due_before) then
    redis.call('PUBLISH', channel, 'due')
    reply[2] = 1
  end
end
return reply
