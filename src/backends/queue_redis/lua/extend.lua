-- extend.lua: renew the leases of N active jobs of one queue.
-- KEYS[1] lease
-- ARGV[1] scope  ARGV[2] new expiry  ARGV[3] N  then per job: id, token
-- Reply: per job 0 (lost: not active under this token), 1 (renewed),
--        2 (renewed, and an operator asked to cancel it).

local scope, expiry, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local reply = {}
for i = 0, n - 1 do
  local id, token = ARGV[4 + i * 2], ARGV[5 + i * 2]
  local key = job_key(scope, id)
  local v = redis.call('HMGET', key, 'state', 'lease', 'cancel')
  if v[1] == 'active' and v[2] == token then
    redis.call('ZADD', KEYS[1], lease_score(expiry), id)
    if v[3] == '1' then reply[i + 1] = 2 else reply[i + 1] = 1 end
  else
    reply[i + 1] = 0
  end
end
return reply
