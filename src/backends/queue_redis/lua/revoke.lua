-- revoke.lua: N active jobs of one queue are dropped (the handler raised Revoke).
-- KEYS[1] active  KEYS[2] lease  KEYS[3] processed  KEYS[4] processed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] counter ttl (s)  ARGV[4] N
-- then per job: id, token
-- Reply: { notified (1/0), then per job 1 (settled) or 0 (lease not held) }.
-- Dropped ids are announced as finished. Jobs waiting for a revoked job apply their policies here (it is gone).

local scope, now, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = { 0 }
local released = 0
local finished = {}
for i = 0, n - 1 do
  local b = 4 + i * 2
  local id, token = ARGV[b + 1], ARGV[b + 2]
  local key = job_key(scope, id)
  if held(key, token) then
    leave_active(KEYS[1], KEYS[2], id)
    release_unique(key, id)
    redis.call('DEL', key)
    count(KEYS[3], KEYS[4], ttl)
    table.insert(finished, id)
    released = released + settle_if_any(scope, id, 'gone', now)
    reply[i + 2] = 1
  else
    reply[i + 2] = 0
  end
end
reply[1] = wake(scope .. 'pending', released, scope .. 'notify')
announce_finished(scope, finished)
return reply
