-- cancel.lua: an operator cancels one job. An active job is flagged (its worker sees the
-- flag at lease renewal) and announced on the cancel channel; a pending, scheduled, retry,
-- aggregating or waiting job is archived as cancelled at once, and the jobs waiting for it
-- apply their policies.
-- KEYS[1] pending  KEYS[2] scheduled  KEYS[3] retry  KEYS[4] archived  KEYS[5] completed
-- KEYS[6] groups
-- ARGV[1] scope  ARGV[2] job id  ARGV[3] now  ARGV[4] cancel channel
-- Reply: { 'ok' | 'missing' | 'refused' | 'malformed', former state (for 'malformed': what
-- is damaged) or '', published (1/0) }

local scope, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = job_key(scope, id)
local kind = damaged_kind(key)
if kind then return { 'malformed', 'its key holds a ' .. kind .. ', not a hash', 0 } end
local v = redis.call('HMGET', key, 'state', 'group')
local state = v[1]
if not state then return { 'missing', '', 0 } end
if state == 'active' then
  redis.call('HSET', key, 'cancel', '1')
  redis.call('PUBLISH', ARGV[4], id)
  return { 'ok', state, 1 }
end
if state == 'completed' or state == 'archived' then return { 'refused', state, 0 } end
detach(scope, containers(), id, state, v[2])
redis.call('HSET', key, 'state', 'archived', 'archived_at', now, 'last_error', 'cancelled', 'last_failed_at', now)
redis.call('ZADD', KEYS[4], now, id)
settle_if_any(scope, id, 'archived', now)
announce_finished(scope, { id })
return { 'ok', state, 0 }
