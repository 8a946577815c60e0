-- enqueue.lua: store N jobs of one queue, each pending, scheduled or aggregating.
-- KEYS[1] pending   KEYS[2] scheduled   KEYS[3] groups   KEYS[4] meta
-- ARGV[1] scope     ARGV[2] now         ARGV[3] notify channel   ARGV[4] N
-- then 15 values per job:
--   id, type, payload, max_retries, timeout, deadline, retention, group, headers,
--   state ('pending' | 'scheduled' | 'aggregating'), due_at, unique lock key or '',
--   unique lock ttl in ms, unique name or '', enqueued_at
-- Reply: { registered (1 when the queue's meta key was missing), notified (1/0),
--          then per job: code (0 enqueued, 1 id conflict, 2 duplicate), holder or '' }

local scope, now, channel, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local registered = 0
if redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('HSET', KEYS[4], 'created_at', now)
  registered = 1
end

local reply = { registered, 0 }
local pushed = 0
for i = 0, n - 1 do
  local b = 4 + i * 15
  local id, state, lock = ARGV[b + 1], ARGV[b + 10], ARGV[b + 12]
  local key = job_key(scope, id)
  if redis.call('EXISTS', key) == 1 then
    table.insert(reply, 1)
    table.insert(reply, '')
  else
    local acquired = true
    if lock ~= '' then
      acquired = redis.call('SET', lock, id, 'NX', 'PX', ARGV[b + 13])
    end
    if not acquired then
      table.insert(reply, 2)
      table.insert(reply, redis.call('GET', lock) or '')
    else
      local due_at, group = ARGV[b + 11], ARGV[b + 8]
      redis.call('HSET', key,
        'type', ARGV[b + 2], 'payload', ARGV[b + 3], 'max_retries', ARGV[b + 4],
        'timeout', ARGV[b + 5], 'deadline', ARGV[b + 6], 'retention', ARGV[b + 7],
        'group', group, 'headers', ARGV[b + 9], 'unique', lock, 'unique_name', ARGV[b + 14],
        'enqueued_at', ARGV[b + 15], 'retried', 0, 'crashes', 0, 'bounces', 0,
        'state', state, 'due_at', due_at)
      if state == 'scheduled' then
        redis.call('ZADD', KEYS[2], due_at, id)
      elseif state == 'aggregating' then
        redis.call('ZADD', scope .. 'g:' .. group, now, id)
        redis.call('SADD', KEYS[3], group)
      else
        redis.call('HSET', key, 'pending_since', now)
        redis.call('LPUSH', KEYS[1], id)
        pushed = pushed + 1
      end
      table.insert(reply, 0)
      table.insert(reply, '')
    end
  end
end

-- Wake idle workers only when the queue was empty: a non-empty queue has busy workers.
if pushed > 0 and redis.call('LLEN', KEYS[1]) == pushed then
  redis.call('PUBLISH', channel, '1')
  reply[2] = 1
end
return reply
