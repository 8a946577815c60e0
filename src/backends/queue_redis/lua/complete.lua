-- complete.lua: N successful attempts of one queue.
-- KEYS[1] active  KEYS[2] lease  KEYS[3] completed  KEYS[4] processed  KEYS[5] processed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] counter ttl (s)  ARGV[4] N
-- then per job: id, token, expires_at ('' without retention), has_result ('1'/'0'), and
-- the result only when has_result is '1'
-- Reply: { notified (1/0), then per job 1 (settled) or 0 (lease not held: nothing changed) }.
-- With an expiry (retention > 0) the job is kept as completed until then, else deleted.
-- Jobs waiting for a completed job are settled here, in the same step (its result, or
-- one written earlier, copied onto each); released ones go to pending and wake workers.
-- Settled ids are announced on the queue's finished channel.

local scope, now, ttl, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local reply = {}
local released = 0
-- the settled ids, taken out of the active and lease sets once for the whole batch
local done = {}
local b = 4
for i = 1, n do
  local id, token, expires, has_result = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local result = has_result == '1' and ARGV[b + 5] or nil
  b = b + (result and 5 or 4)
  local key = job_key(scope, id)
  local v = redis.call('HMGET', key, 'state', 'lease', 'unique')
  if v[1] == 'active' and v[2] == token then
    table.insert(done, id)
    release_lock(v[3], id)
    if redis.call('EXISTS', dependents_key(scope, id)) == 1 then
      released = released + settle_dependents(scope, id, 'done', now, result or redis.call('HGET', key, 'result'))
    end
    if expires ~= '' then
      redis.call('HSET', key, 'state', 'completed', 'completed_at', now, 'expires_at', expires)
      redis.call('HDEL', key, 'lease')
      if result then
        redis.call('HSET', key, 'result', result)
      end
      redis.call('ZADD', KEYS[3], expires, id)
    else
      redis.call('DEL', key)
    end
    reply[i + 1] = 1
  else
    reply[i + 1] = 0
  end
end
chunked('ZREM', KEYS[1], done, 1)
chunked('ZREM', KEYS[2], done, 1)
count_n(KEYS[4], KEYS[5], ttl, #done)
reply[1] = wake(scope .. 'pending', released, scope .. 'notify')
announce_finished(scope, done)
return reply
