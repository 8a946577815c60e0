-- archive.lua: N attempts of one queue end in the archive.
-- KEYS[1] active  KEYS[2] lease  KEYS[3] archived  KEYS[4] processed  KEYS[5] failed
-- KEYS[6] processed:<day>  KEYS[7] failed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] counter ttl (s)  ARGV[4] N
-- then per job: id, token, error, release_unique ('1'/'0'), traceback ('' for none)
-- Reply: { notified (1/0), then per job 1 (settled) or 0 (lease not held) }.
-- Jobs waiting for an archived job apply their policies here (see settle_dependents).
-- Archived ids are announced on the queue's finished channel.
-- Caps on the archive are applied by purge.lua, which the janitor runs.

local scope, now, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = { 0 }
local released = 0
local finished = {}
for i = 0, n - 1 do
  local b = 4 + i * 5
  local id, token = ARGV[b + 1], ARGV[b + 2]
  local key = job_key(scope, id)
  if held(key, token) then
    leave_active(KEYS[1], KEYS[2], id)
    if ARGV[b + 4] == '1' then
      release_unique(key, id)
    end
    redis.call('HSET', key, 'state', 'archived', 'archived_at', now,
      'last_error', ARGV[b + 3], 'last_failed_at', now)
    redis.call('HDEL', key, 'lease')
    keep_traceback(key, ARGV[b + 5])
    redis.call('ZADD', KEYS[3], now, id)
    count(KEYS[4], KEYS[6], ttl)
    count(KEYS[5], KEYS[7], ttl)
    table.insert(finished, id)
    released = released + settle_if_any(scope, id, 'archived', now)
    reply[i + 2] = 1
  else
    reply[i + 2] = 0
  end
end
reply[1] = wake(scope .. 'pending', released, scope .. 'notify')
announce_finished(scope, finished)
return reply
