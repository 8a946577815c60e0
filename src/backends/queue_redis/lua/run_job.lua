-- run_job.lua: an operator moves one scheduled, retry, archived, aggregating or waiting
-- job to the tail of pending (a waiting job is released by hand and its links dropped).
-- KEYS[1] pending  KEYS[2] scheduled  KEYS[3] retry  KEYS[4] archived  KEYS[5] completed
-- KEYS[6] groups
-- ARGV[1] scope  ARGV[2] job id  ARGV[3] now  ARGV[4] notify channel
-- Reply: { 'ok' | 'missing' | 'refused' | 'malformed', former state (for 'malformed':
-- what is damaged) or '', notified (1/0) }
-- Running a job again withdraws an earlier cancel request (its 'cancel' flag). A damaged
-- record (a key that is not a hash, or no job type) is refused: it could only fail again.

local scope, id, now = ARGV[1], ARGV[2], ARGV[3]
local key = job_key(scope, id)
local kind = damaged_kind(key)
if kind then return { 'malformed', 'its key holds a ' .. kind .. ', not a hash', 0 } end
local v = redis.call('HMGET', key, 'state', 'group', 'type')
local state = v[1]
if not state then return { 'missing', '', 0 } end
if not v[3] or v[3] == '' then return { 'malformed', 'it has no job type', 0 } end
if state ~= 'scheduled' and state ~= 'retry' and state ~= 'archived' and state ~= 'aggregating'
  and state ~= 'waiting' then
  return { 'refused', state, 0 }
end
detach(scope, containers(), id, state, v[2])
redis.call('HSET', key, 'state', 'pending', 'pending_since', now)
redis.call('HDEL', key, 'cancel')
redis.call('LPUSH', KEYS[1], id)
return { 'ok', state, wake(KEYS[1], 1, ARGV[4]) }
