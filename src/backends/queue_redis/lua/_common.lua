-- _common.lua: helpers prepended to every script by scripts.py (not a transition itself).
-- A job's hash is SCOPE .. 'j:' .. id; SCOPE is the queue's key prefix (same hash slot).

local function job_key(scope, id)
  return scope .. 'j:' .. id
end

-- True when the job is active and its lease token is `token` (the fencing check).
local function held(key, token)
  local v = redis.call('HMGET', key, 'state', 'lease')
  return v[1] == 'active' and v[2] == token
end

-- Count one event in a total counter and in the counter of the day (expires with ttl).
local function count(total_key, day_key, ttl)
  redis.call('INCR', total_key)
  if redis.call('INCR', day_key) == 1 then
    redis.call('EXPIRE', day_key, ttl)
  end
end

-- A unique lock's value is '<held until>|<holder id>': the caller's clock (ARGV now), not
-- Redis' TTL, decides when it is free; the TTL only collects the key afterwards.
local function lock_holder(value)
  if not value then return nil, nil end
  local sep = string.find(value, '|', 1, true)
  if not sep then return nil, value end
  return tonumber(string.sub(value, 1, sep - 1)), string.sub(value, sep + 1)
end

-- Release the job's unique lock, but only if this job still holds it.
local function release_unique(key, id)
  local lock = redis.call('HGET', key, 'unique')
  if lock and lock ~= '' then
    local _, holder = lock_holder(redis.call('GET', lock))
    if holder == id then
      redis.call('DEL', lock)
    end
  end
end

-- Take the job out of the active set and its lease.
local function leave_active(active, lease, id)
  redis.call('ZREM', active, id)
  redis.call('ZREM', lease, id)
end

-- Take a job out of the container of its (non-active) state. An aggregating job may be
-- in its group or staged for aggregation (field 'staged' = set id); a group left empty
-- is dropped from the queue's set of groups.
local function detach(scope, c, id, state, group)
  if state == 'pending' then
    redis.call('LREM', c.pending, 0, id)
  elseif state == 'aggregating' then
    local gkey = scope .. 'g:' .. group
    local staged = redis.call('HGET', job_key(scope, id), 'staged')
    if staged then
      -- the set is no longer what its aggregator read: expire it, so its commit is
      -- refused and the remaining members go back to the group at the next reclaim
      redis.call('ZREM', gkey .. ':s:' .. staged, id)
      redis.call('HDEL', job_key(scope, id), 'staged')
      redis.call('ZADD', scope .. 'staging', 'XX', 0, staged .. ':' .. group)
    else
      redis.call('ZREM', gkey, id)
      if redis.call('ZCARD', gkey) == 0 then
        redis.call('SREM', c.groups, group)
      end
    end
  elseif c[state] then
    redis.call('ZREM', c[state], id)
  end
end

-- The containers of an operator script, from its standard first six KEYS.
local function containers()
  return { pending = KEYS[1], scheduled = KEYS[2], retry = KEYS[3], archived = KEYS[4],
    completed = KEYS[5], groups = KEYS[6] }
end

-- Store one job whose 15 enqueue values start after ARGV[b] (see enqueue.lua's header).
-- Returns code (0 stored, 1 id conflict, 2 duplicate), the lock holder or '', and 1 when
-- the job was pushed to pending.
local function store_job(scope, pending, scheduled, groups, now, b)
  local id, state, lock = ARGV[b + 1], ARGV[b + 10], ARGV[b + 12]
  local key = job_key(scope, id)
  if redis.call('EXISTS', key) == 1 then
    return 1, '', 0
  end
  if lock ~= '' then
    local until_at, holder = lock_holder(redis.call('GET', lock))
    if holder and (until_at == nil or until_at > tonumber(now)) then
      return 2, holder, 0
    end
    local held_until = ARGV[b + 13]
    local collect_ms = math.ceil((tonumber(held_until) - tonumber(now)) * 1000) + 60000
    redis.call('SET', lock, held_until .. '|' .. id, 'PX', math.max(collect_ms, 60000))
  end
  local due_at, group = ARGV[b + 11], ARGV[b + 8]
  redis.call('HSET', key,
    'type', ARGV[b + 2], 'payload', ARGV[b + 3], 'max_retries', ARGV[b + 4],
    'timeout', ARGV[b + 5], 'deadline', ARGV[b + 6], 'retention', ARGV[b + 7],
    'group', group, 'headers', ARGV[b + 9], 'unique', lock, 'unique_name', ARGV[b + 14],
    'enqueued_at', ARGV[b + 15], 'retried', 0, 'crashes', 0, 'bounces', 0,
    'state', state, 'due_at', due_at)
  if state == 'scheduled' then
    redis.call('ZADD', scheduled, due_at, id)
  elseif state == 'aggregating' then
    redis.call('ZADD', scope .. 'g:' .. group, now, id)
    redis.call('SADD', groups, group)
  else
    redis.call('HSET', key, 'pending_since', now)
    redis.call('LPUSH', pending, id)
    return 0, '', 1
  end
  return 0, '', 0
end

-- Publish on the notify channel when the `pushed` newest jobs are all of pending: the
-- queue was empty, so workers may be idle. A non-empty queue has busy workers.
local function wake(pending, pushed, channel)
  if pushed > 0 and redis.call('LLEN', pending) == pushed then
    redis.call('PUBLISH', channel, '1')
    return 1
  end
  return 0
end
