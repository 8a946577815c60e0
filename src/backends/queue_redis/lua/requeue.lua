-- requeue.lua: N active jobs of one queue go back to the head of pending (shutdown).
-- KEYS[1] active  KEYS[2] lease  KEYS[3] pending
-- ARGV[1] scope  ARGV[2] now  ARGV[3] notify channel  ARGV[4] N
-- then per job: id, token
-- Reply: { notified (1/0), then per job 1 (settled) or 0 (lease not held) }.
-- No retry is used and nothing is counted.

local scope, now, channel, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = { 0 }
local pushed = 0
for i = 0, n - 1 do
  local b = 4 + i * 2
  local id, token = ARGV[b + 1], ARGV[b + 2]
  local key = job_key(scope, id)
  if held(key, token) then
    leave_active(KEYS[1], KEYS[2], id)
    redis.call('HSET', key, 'state', 'pending', 'pending_since', now)
    redis.call('HDEL', key, 'lease')
    redis.call('RPUSH', KEYS[3], id)
    pushed = pushed + 1
    reply[i + 2] = 1
  else
    reply[i + 2] = 0
  end
end
reply[1] = wake(KEYS[3], pushed, channel)
return reply
