-- archive_job.lua: an operator archives one pending, scheduled, retry, aggregating or
-- waiting job; the jobs waiting for it apply their policies.
-- KEYS[1] pending  KEYS[2] scheduled  KEYS[3] retry  KEYS[4] archived  KEYS[5] completed
-- KEYS[6] groups
-- ARGV[1] scope  ARGV[2] job id  ARGV[3] now
-- Reply: { 'ok' | 'missing' | 'refused', former state or '' }. Nothing is counted;
-- an archived job is announced as finished. A damaged job key (not a hash) becomes an
-- archived record saying so (see quarantine).

local scope, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = job_key(scope, id)
local kind = damaged_kind(key)
if kind then
  local found = detach_damaged(containers(), id)
  quarantine(key, id, kind, KEYS[4], now)
  return { 'ok', found }
end
local v = redis.call('HMGET', key, 'state', 'group')
local state = v[1]
if not state then return { 'missing', '' } end
if state ~= 'pending' and state ~= 'scheduled' and state ~= 'retry' and state ~= 'aggregating'
  and state ~= 'waiting' then
  return { 'refused', state }
end
detach(scope, containers(), id, state, v[2])
redis.call('HSET', key, 'state', 'archived', 'archived_at', now)
redis.call('ZADD', KEYS[4], now, id)
settle_if_any(scope, id, 'archived', now)
announce_finished(scope, { id })
return { 'ok', state }
