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

-- Release the unique lock `lock` (a job's 'unique' field, false or '' for none), but only
-- if job `id` still holds it.
local function release_lock(lock, id)
  if lock and lock ~= '' then
    local _, holder = lock_holder(redis.call('GET', lock))
    if holder == id then
      redis.call('DEL', lock)
    end
  end
end

-- Release the job's unique lock, but only if this job still holds it.
local function release_unique(key, id)
  release_lock(redis.call('HGET', key, 'unique'), id)
end

-- Count n events at once (see count).
local function count_n(total_key, day_key, ttl, n)
  if n == 0 then return end
  redis.call('INCRBY', total_key, n)
  if redis.call('INCRBY', day_key, n) == n then
    redis.call('EXPIRE', day_key, ttl)
  end
end

-- Call a variadic command with a long list of arguments in chunks, so no call passes
-- more values than Lua's unpack() can take: ZADD key score member ..., ZREM key member ...
local function chunked(command, key, values, step)
  for start = 1, #values, 1000 * step do
    local stop = math.min(start + 1000 * step - 1, #values)
    redis.call(command, key, unpack(values, start, stop))
  end
end

-- A job key that is not a hash (damaged by hand or by a bug) becomes an archived record
-- that says so, a string's bytes kept in field 'raw', and joins the `archived` set: no
-- script stops at it (an error would strand what the script did before) and no listing
-- trips on it. `kind` is the key's TYPE.
local function quarantine(key, id, kind, archived, now)
  local raw = kind == 'string' and redis.call('GET', key) or ''
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', 'archived', 'archived_at', now, 'type', '', 'payload', '',
    'max_retries', 0, 'retried', 0, 'crashes', 0, 'bounces', 0, 'raw', raw, 'last_failed_at', now,
    'last_error', 'malformed job record: its key held a ' .. kind .. ', not a hash')
  redis.call('ZADD', archived, now, id)
end

-- The TYPE of a job key that exists but is not a hash (damaged), else nil: operator
-- scripts check it first, so a damaged record can still be deleted or archived.
local function damaged_kind(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'hash' or kind == 'none' then return nil end
  return kind
end

-- Take the id of a damaged job out of every container of an operator script; returns the
-- state whose container held it ('archived' when none did).
local function detach_damaged(c, id)
  local found = 'archived'
  if redis.call('LREM', c.pending, 0, id) > 0 then found = 'pending' end
  for _, name in ipairs({ 'scheduled', 'retry', 'archived', 'completed' }) do
    if redis.call('ZREM', c[name], id) > 0 then found = name end
  end
  return found
end

-- Store the traceback of a failed attempt ('' clears the previous one).
local function keep_traceback(key, traceback)
  if traceback == '' then
    redis.call('HDEL', key, 'traceback')
  else
    redis.call('HSET', key, 'traceback', traceback)
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

-- Store one job whose enqueue values start after ARGV[b] (see enqueue.lua's header): 7
-- fixed values, then k optional field/value pairs (empty fields are not sent, not stored).
-- Returns code (0 stored, 1 id conflict, 2 duplicate), the lock holder or '', the length
-- of pending after the job was pushed there (0 when it was not), and the b of the next job.
local function store_job(scope, pending, scheduled, groups, now, b)
  local id, state, k = ARGV[b + 1], ARGV[b + 5], tonumber(ARGV[b + 7])
  local key = job_key(scope, id)
  local next_b = b + 7 + 2 * k
  if redis.call('EXISTS', key) == 1 then
    return 1, '', 0, next_b
  end
  local due_at = ARGV[b + 6]
  if due_at == '' then due_at = now end
  local fields = { 'type', ARGV[b + 2], 'payload', ARGV[b + 3], 'max_retries', ARGV[b + 4],
    'enqueued_at', now, 'retried', 0, 'crashes', 0, 'bounces', 0, 'state', state, 'due_at', due_at }
  local lock, held_until, group = '', nil, nil
  for i = b + 8, next_b, 2 do
    local name, value = ARGV[i], ARGV[i + 1]
    if name == 'unique_until' then
      held_until = value
    else
      if name == 'unique' then lock = value elseif name == 'group' then group = value end
      table.insert(fields, name)
      table.insert(fields, value)
    end
  end
  if lock ~= '' then
    local until_at, holder = lock_holder(redis.call('GET', lock))
    if holder and (until_at == nil or until_at > tonumber(now)) then
      return 2, holder, 0, next_b
    end
    local collect_ms = math.ceil((tonumber(held_until) - tonumber(now)) * 1000) + 60000
    redis.call('SET', lock, held_until .. '|' .. id, 'PX', math.max(collect_ms, 60000))
  end
  if state == 'scheduled' then
    redis.call('HSET', key, unpack(fields))
    redis.call('ZADD', scheduled, due_at, id)
  elseif state == 'aggregating' then
    redis.call('HSET', key, unpack(fields))
    redis.call('ZADD', scope .. 'g:' .. group, now, id)
    redis.call('SADD', groups, group)
  else
    table.insert(fields, 'pending_since')
    table.insert(fields, now)
    redis.call('HSET', key, unpack(fields))
    return 0, '', redis.call('LPUSH', pending, id), next_b
  end
  return 0, '', 0, next_b
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

-- Announce on the queue's 'finished' channel (SCOPE .. 'finished') the ids of jobs this
-- script moved to completed or archived, or deleted: one message per call, ids separated
-- by spaces (a job id never holds one). Waiters for outcomes subscribe to it.
local function announce_finished(scope, ids)
  if #ids > 0 then
    redis.call('PUBLISH', scope .. 'finished', table.concat(ids, ' '))
  end
end
