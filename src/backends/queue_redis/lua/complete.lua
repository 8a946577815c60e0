-- complete.lua: N successful attempts of one queue.
-- KEYS[1] active  KEYS[2] lease  KEYS[3] completed  KEYS[4] processed  KEYS[5] processed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] counter ttl (s)  ARGV[4] N
-- then per job: id, token, expires_at ('' without retention), has_result ('1'/'0'), result
-- Reply: per job 1 (settled) or 0 (lease not held: nothing changed).
-- With an expiry (retention > 0) the job is kept as completed until then, else deleted.

local scope, now, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = {}
for i = 0, n - 1 do
  local b = 4 + i * 5
  local id, token = ARGV[b + 1], ARGV[b + 2]
  local key = job_key(scope, id)
  if held(key, token) then
    leave_active(KEYS[1], KEYS[2], id)
    release_unique(key, id)
    local expires = ARGV[b + 3]
    if expires ~= '' then
      redis.call('HSET', key, 'state', 'completed', 'completed_at', now, 'expires_at', expires)
      redis.call('HDEL', key, 'lease')
      if ARGV[b + 4] == '1' then
        redis.call('HSET', key, 'result', ARGV[b + 5])
      end
      redis.call('ZADD', KEYS[3], expires, id)
    else
      redis.call('DEL', key)
    end
    count(KEYS[4], KEYS[5], ttl)
    reply[i + 1] = 1
  else
    reply[i + 1] = 0
  end
end
return reply
