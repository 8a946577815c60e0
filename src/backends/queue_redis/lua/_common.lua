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

-- A lease set score from an expiry and back (both decimal strings, negated as text, so
-- no bit is lost): the set scores each lease by its negated expiry, so the newest lease,
-- the one dequeue and extend add, is the lowest score. A small sorted set (a listpack)
-- looks for an insert's place from its lowest score on, parsing each score it passes:
-- the newest first, an insert there passes one instead of all of them.
local function lease_score(expiry)
  if string.sub(expiry, 1, 1) == '-' then return string.sub(expiry, 2) end
  return '-' .. expiry
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

-- Takes up to `batch` jobs off the head of a pending list (the end RPOP serves) and returns
-- them next-to-run first: LRANGE lists them the other way round, and bulk actions must
-- follow the queue's order (a dependent names the first of its dependencies that failed).
local function take_head(key, batch)
  local taken = redis.call('LRANGE', key, -batch, -1)
  redis.call('LTRIM', key, 0, -batch - 1)
  local ids = {}
  for i = #taken, 1, -1 do ids[#ids + 1] = taken[i] end
  return ids
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

-- Dependencies (all inside one queue, so one slot). A job enqueued with dependencies has
-- fields 'deps' (their IDs, comma-separated), 'dep_policy' ('cancel' | 'run' | 'wait')
-- and 'deps_left' (how many it still waits for). SCOPE .. 'n:' .. id is the SET of the
-- jobs waiting for job `id`: it lives only while that job exists and has dependents to
-- settle, and is settled by the same script that completes, archives or deletes the job.

local function dependents_key(scope, id)
  return scope .. 'n:' .. id
end

local function dependency_failed(id)
  return 'cancelled: dependency ' .. id .. ' did not complete'
end

-- A waiting job leaves waiting other than by release (an operator, or policy 'cancel'):
-- out of the waiting set and out of each dependency's set, so a job later stored under
-- the same ID is never mistaken for it.
local function leave_waiting(scope, id)
  redis.call('ZREM', scope .. 'waiting', id)
  local deps = redis.call('HGET', job_key(scope, id), 'deps')
  if deps then
    for dep in string.gmatch(deps, '[^,]+') do
      redis.call('SREM', dependents_key(scope, dep), id)
    end
  end
end

-- Release a waiting job: to the tail of pending, or to scheduled while its process time
-- (due_at) is ahead. Returns 1 when it was pushed to pending.
local function release(scope, key, id, due_at, now)
  redis.call('ZREM', scope .. 'waiting', id)
  if due_at and tonumber(due_at) > tonumber(now) then
    redis.call('HSET', key, 'state', 'scheduled')
    redis.call('ZADD', scope .. 'scheduled', due_at, id)
    redis.call('PUBLISH', scope .. 'notify', 'due')
    return 0
  end
  redis.call('HSET', key, 'state', 'pending', 'pending_since', now)
  redis.call('LPUSH', scope .. 'pending', id)
  return 1
end

-- Settle the jobs waiting for job `id`, which has just completed (how = 'done', its
-- result or nil), been archived ('archived') or deleted ('gone'). Only a job still in
-- state 'waiting' is touched, so none is released twice. A job archived under policy
-- 'cancel' settles its own dependents in turn (a work list, not recursion). Returns how
-- many jobs were pushed to pending. With a table `moved`, every job it takes out of
-- waiting (released or cancelled) is appended to it (the bulk actions take them along).
local function settle_dependents(scope, id, how, now, result, moved)
  local work, events, results = { id }, { how }, { result or false }
  local pushed, i = 0, 1
  while i <= #work do
    local dep, event = work[i], events[i]
    local nkey = dependents_key(scope, dep)
    local members = redis.call('SMEMBERS', nkey)
    table.sort(members)  -- a stated order: releases reach pending in dependent-ID order
    for _, d in ipairs(members) do
      local dkey = job_key(scope, d)
      local v = redis.call('HMGET', dkey, 'state', 'dep_policy', 'due_at')
      if v[1] == 'waiting' then
        if event == 'done' or v[2] == 'run' then
          if results[i] then
            redis.call('HSET', dkey, 'r:' .. dep, results[i])
          end
          redis.call('SREM', nkey, d)
          if redis.call('HINCRBY', dkey, 'deps_left', -1) <= 0 then
            pushed = pushed + release(scope, dkey, d, v[3], now)
            if moved then table.insert(moved, d) end
          end
        elseif v[2] == 'cancel' then
          leave_waiting(scope, d)
          redis.call('HSET', dkey, 'state', 'archived', 'archived_at', now,
            'last_error', dependency_failed(dep), 'last_failed_at', now)
          redis.call('ZADD', scope .. 'archived', now, d)
          redis.call('PUBLISH', scope .. 'finished', d)  -- as announce_finished does
          if moved then table.insert(moved, d) end
          table.insert(work, d)
          table.insert(events, 'archived')
          table.insert(results, false)
        end
      end
    end
    -- what is left after an archive waits for it under 'wait'; otherwise nothing may
    -- wait for a job that is gone or done
    if event ~= 'archived' then
      redis.call('DEL', nkey)
    end
    i = i + 1
  end
  return pushed
end

-- Settle the dependents of job `id` if it has any (the cheap common case: none).
local function settle_if_any(scope, id, how, now, result, moved)
  if redis.call('EXISTS', dependents_key(scope, id)) == 0 then return 0 end
  return settle_dependents(scope, id, how, now, result, moved)
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
  elseif state == 'waiting' then
    leave_waiting(scope, id)
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

-- A job a bulk action took from the waiting set may have been settled since by an earlier
-- job of the same batch: released to pending or scheduled under policy 'run' (it leaves
-- that container here) or archived under 'cancel' (left to the caller). Returns the state.
-- The bulk actions on waiting jobs also take along every job their own settling moved out
-- of waiting (see bulk_waiting): a release or a cancel by the batch never lets a job
-- escape the action because it was beyond the batch.
local function leave_taken_waiting(scope, id)
  local state = redis.call('HGET', job_key(scope, id), 'state')
  if state == 'waiting' then
    leave_waiting(scope, id)
  elseif state == 'pending' then
    redis.call('LREM', scope .. 'pending', 0, id)
  elseif state == 'scheduled' then
    redis.call('ZREM', scope .. 'scheduled', id)
  end
  return state
end

-- A bulk action on the waiting set: `act(id, moved)` archives or deletes one job and
-- appends to `moved` the jobs its settling took out of waiting (released under 'run',
-- cancelled under 'cancel'). Those were waiting when the action began, so they are acted
-- on too, once each, even when they lie beyond this batch: left to a later batch, a
-- released one could be dequeued first, and a cancelled one would no longer be in the
-- waiting set (delete_all would leave it archived). Returns every ID acted on.
local function bulk_waiting(ids, act)
  local taken, work = {}, {}
  for _, id in ipairs(ids) do
    taken[id] = true
    table.insert(work, id)
  end
  local i = 1
  while i <= #work do
    local moved = {}
    act(work[i], moved)
    for _, d in ipairs(moved) do
      if not taken[d] then
        taken[d] = true
        table.insert(work, d)
      end
    end
    i = i + 1
  end
  return work
end

-- The containers of an operator script, from its standard first six KEYS.
local function containers()
  return { pending = KEYS[1], scheduled = KEYS[2], retry = KEYS[3], archived = KEYS[4],
    completed = KEYS[5], groups = KEYS[6] }
end

-- Store one job whose enqueue values start after ARGV[b] (see enqueue.lua's header): 7
-- fixed values, then k optional field/value pairs (empty fields are not sent, not stored).
-- Returns code (0 stored, 1 id conflict, 2 duplicate, 4 dependency missing), a detail
-- (code 2: the lock holder; code 4: the missing dependency; code 0: 'waiting' or
-- 'archived' when its dependencies decided the state, else ''), the length of pending
-- after the job was pushed there (0 when it was not), and the b of the next job.
local function store_job(scope, pending, scheduled, groups, now, b)
  local id, state, k = ARGV[b + 1], ARGV[b + 5], tonumber(ARGV[b + 7])
  local key = job_key(scope, id)
  local next_b = b + 7 + 2 * k
  if redis.call('EXISTS', key) == 1 then
    return 1, '', 0, next_b
  end
  -- What a reader can infer is not stored (see docs/redis.md, "What a job stores"):
  -- retried, crashes and bounces start missing (0), due_at only when it is not the
  -- enqueue time, pending_since only once it differs from 'enqueued'.
  local due_at = ARGV[b + 6]
  local fields = { 'type', ARGV[b + 2], 'payload', ARGV[b + 3], 'max_retries', ARGV[b + 4],
    'enqueued', now, 'state', state }
  if due_at == '' then
    due_at = now
  else
    table.insert(fields, 'due_at')
    table.insert(fields, due_at)
  end
  local lock, held_until, group, deps, policy = '', nil, nil, nil, 'cancel'
  for i = b + 8, next_b, 2 do
    local name, value = ARGV[i], ARGV[i + 1]
    if name == 'unique_until' then
      held_until = value
    else
      if name == 'unique' then lock = value elseif name == 'group' then group = value
      elseif name == 'deps' then deps = value elseif name == 'dep_policy' then policy = value end
      table.insert(fields, name)
      table.insert(fields, value)
    end
  end
  -- dependencies: every one must exist; completed ones are satisfied (their results
  -- copied), archived ones apply the policy now, the others are waited for
  local waits_for, cancelled_by, copies = {}, nil, {}
  if deps then
    for dep in string.gmatch(deps, '[^,]+') do
      local dv = redis.call('HMGET', job_key(scope, dep), 'state', 'result')
      if not dv[1] then
        return 4, dep, 0, next_b
      elseif dv[1] == 'completed' then
        if dv[2] then table.insert(copies, dep) table.insert(copies, dv[2]) end
      elseif dv[1] == 'archived' then
        if policy == 'cancel' then cancelled_by = cancelled_by or dep
        elseif policy == 'wait' then table.insert(waits_for, dep) end
      else
        table.insert(waits_for, dep)
      end
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
  if deps then
    table.insert(fields, 'deps_left')
    table.insert(fields, #waits_for)
  end
  -- results of completed dependencies, one HSET each after the record is written (a
  -- fan-in may copy thousands: more than one unpack() can pass)
  local function copy_results()
    for c = 1, #copies, 2 do
      redis.call('HSET', key, 'r:' .. copies[c], copies[c + 1])
    end
  end
  if cancelled_by then
    redis.call('HSET', key, unpack(fields))
    copy_results()
    redis.call('HSET', key, 'state', 'archived', 'archived_at', now,
      'last_error', dependency_failed(cancelled_by), 'last_failed_at', now)
    redis.call('ZADD', scope .. 'archived', now, id)
    return 0, 'archived', 0, next_b
  elseif #waits_for > 0 then
    redis.call('HSET', key, unpack(fields))
    copy_results()
    redis.call('HSET', key, 'state', 'waiting')
    redis.call('ZADD', scope .. 'waiting', now, id)
    for _, dep in ipairs(waits_for) do
      redis.call('SADD', dependents_key(scope, dep), id)
    end
    return 0, 'waiting', 0, next_b
  elseif state == 'scheduled' then
    redis.call('HSET', key, unpack(fields))
    copy_results()
    redis.call('ZADD', scheduled, due_at, id)
  elseif state == 'aggregating' then
    redis.call('HSET', key, unpack(fields))
    redis.call('ZADD', scope .. 'g:' .. group, now, id)
    redis.call('SADD', groups, group)
  else
    redis.call('HSET', key, unpack(fields))
    copy_results()
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
