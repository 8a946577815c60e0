-- delete_job.lua: an operator deletes one job in any state but active.
-- KEYS[1] pending  KEYS[2] scheduled  KEYS[3] retry  KEYS[4] archived  KEYS[5] completed
-- KEYS[6] groups
-- ARGV[1] scope  ARGV[2] job id
-- Reply: { 'ok' | 'missing' | 'refused', former state or '' }. The unique lock is released;
-- the jobs waiting for it apply their policies; a deleted job is announced as finished.
-- A damaged job key (not a hash) is deleted too, its id taken out of every container.

local scope, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = job_key(scope, id)
if damaged_kind(key) then
  local found = detach_damaged(containers(), id)
  redis.call('DEL', key)
  return { 'ok', found }
end
local v = redis.call('HMGET', key, 'state', 'group')
local state = v[1]
if not state then return { 'missing', '' } end
if state == 'active' then return { 'refused', state } end
detach(scope, containers(), id, state, v[2])
release_unique(key, id)
redis.call('DEL', key)
settle_if_any(scope, id, 'gone', now)
announce_finished(scope, { id })
return { 'ok', state }
