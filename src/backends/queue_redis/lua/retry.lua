-- retry.lua: N failed (or bounced) attempts of one queue go to the retry set.
-- KEYS[1] active  KEYS[2] lease  KEYS[3] retry  KEYS[4] processed  KEYS[5] failed
-- KEYS[6] processed:<day>  KEYS[7] failed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] counter ttl (s)  ARGV[4] N
-- then per job: id, token, retry_at, error, counts_as_failure ('1'/'0'), traceback ('' for none)
-- Reply: per job 1 (settled) or 0 (lease not held).
-- A failure uses a retry and is counted; a bounce (transient) only counts a bounce.

local scope, now, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = {}
for i = 0, n - 1 do
  local b = 4 + i * 6
  local id, token, retry_at = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local key = job_key(scope, id)
  if held(key, token) then
    leave_active(KEYS[1], KEYS[2], id)
    redis.call('HSET', key, 'state', 'retry', 'due_at', retry_at,
      'last_error', ARGV[b + 4], 'last_failed_at', now)
    redis.call('HDEL', key, 'lease')
    keep_traceback(key, ARGV[b + 6])
    if ARGV[b + 5] == '1' then
      redis.call('HINCRBY', key, 'retried', 1)
      count(KEYS[4], KEYS[6], ttl)
      count(KEYS[5], KEYS[7], ttl)
    else
      redis.call('HINCRBY', key, 'bounces', 1)
    end
    redis.call('ZADD', KEYS[3], retry_at, id)
    reply[i + 1] = 1
  else
    reply[i + 1] = 0
  end
end
return reply
