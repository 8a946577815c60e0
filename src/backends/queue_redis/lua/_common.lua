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

-- Release the job's unique lock, but only if this job still holds it.
local function release_unique(key, id)
  local lock = redis.call('HGET', key, 'unique')
  if lock and lock ~= '' and redis.call('GET', lock) == id then
    redis.call('DEL', lock)
  end
end

-- Take the job out of the active set and its lease.
local function leave_active(active, lease, id)
  redis.call('ZREM', active, id)
  redis.call('ZREM', lease, id)
end

-- Take a job out of the container of its (non-active) state. A group left empty is
-- dropped from the queue's set of groups.
local function detach(scope, c, id, state, group)
  if state == 'pending' then
    redis.call('LREM', c.pending, 0, id)
  elseif state == 'aggregating' then
    local gkey = scope .. 'g:' .. group
    redis.call('ZREM', gkey, id)
    if redis.call('ZCARD', gkey) == 0 then
      redis.call('SREM', c.groups, group)
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
