-- enqueue.lua: store N jobs of one queue, each pending, scheduled, aggregating, or
-- waiting for its dependencies (see store_job in _common.lua).
-- KEYS[1] pending   KEYS[2] scheduled   KEYS[3] groups   KEYS[4] meta
-- ARGV[1] scope     ARGV[2] now         ARGV[3] notify channel   ARGV[4] N
-- ARGV[5] '1': all or nothing (a flow), '0': each job on its own
-- then per job 7 values and k optional pairs:
--   id, type, payload, max_retries,
--   state ('pending' | 'scheduled' | 'aggregating'), due_at ('' for now), k,
--   then k pairs (field, value), only for the fields that are set: timeout, deadline,
--   retention, group, headers, deps (dependency IDs, comma-separated), dep_policy,
--   unique (the lock key), unique_until (the lock is held until, epoch s; not stored),
--   unique_name.
-- A field left out is not stored: readers take a missing field as ''.
-- Reply: { registered (1 when the queue's meta key was missing), notified (1/0),
--          then per job: code (0 enqueued, 1 id conflict, 2 duplicate, 4 dependency
--          missing, 5 not written: another job of the flow was refused), detail }
--          (detail: see store_job).
-- A rejected job writes nothing (no lock is taken for an ID conflict). With ARGV[5] = '1'
-- every job is checked first (a dependency may be an earlier job of the call) and a
-- single refusal writes nothing at all. The queue is registered only when a job is stored.
-- Notifies (PUBLISH on the notify channel) when jobs were pushed to an empty pending
-- list, or when a scheduled job became the earliest of the queue's scheduled set, so
-- idle workers forward it when due instead of at their next periodic look.

local scope, now, channel, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local FIRST = 5

-- all or nothing: the first job that would be refused, its code and detail
local function refusal()
  local ids, locks = {}, {}
  local b = FIRST
  for j = 1, n do
    local id, k = ARGV[b + 1], tonumber(ARGV[b + 7])
    local next_b = b + 7 + 2 * k
    if ids[id] or redis.call('EXISTS', job_key(scope, id)) == 1 then return j, 1, '' end
    local missing, holder = nil, nil
    for i = b + 8, next_b, 2 do
      local name, value = ARGV[i], ARGV[i + 1]
      if name == 'deps' then
        for dep in string.gmatch(value, '[^,]+') do
          if not ids[dep] and redis.call('EXISTS', job_key(scope, dep)) == 0 then
            missing = missing or dep
          end
        end
      elseif name == 'unique' then
        local until_at, current = lock_holder(redis.call('GET', value))
        if locks[value] then
          holder = locks[value]
        elseif current and (until_at == nil or until_at > tonumber(now)) then
          holder = current
        end
        locks[value] = id
      end
    end
    if missing then return j, 4, missing end
    if holder then return j, 2, holder end
    ids[id] = true
    b = next_b
  end
  return nil
end

if ARGV[5] == '1' then
  local refused, code, detail = refusal()
  if refused then
    local reply = { 0, 0 }
    for j = 1, n do
      table.insert(reply, j == refused and code or 5)
      table.insert(reply, j == refused and detail or '')
    end
    return reply
  end
end

local function earliest()
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return tonumber(head[2])
end
-- Only a batch with a scheduled job can change the earliest scheduled time.
local looked, due_before = false, nil

local reply = { 0, 0 }
local pushed, length, stored = 0, 0, 0
local b = FIRST
for _ = 1, n do
  if not looked and ARGV[b + 5] == 'scheduled' then
    looked, due_before = true, earliest()
  end
  local code, detail, pending_length
  code, detail, pending_length, b = store_job(scope, KEYS[1], KEYS[2], KEYS[3], now, b)
  table.insert(reply, code)
  table.insert(reply, detail)
  if code == 0 then stored = stored + 1 end
  if pending_length > 0 then
    pushed, length = pushed + 1, pending_length
  end
end
-- A pending list that held jobs before this call belongs to a registered queue (its
-- meta key goes only with the queue, delete_queue.lua): when every stored job joined
-- one, the queue needs no look at its meta key.
if stored > 0 and not (pushed == stored and length > pushed) then
  reply[1] = redis.call('HSETNX', KEYS[4], 'created_at', now)
end
-- Pending holds only what this call pushed: it was empty, so workers may be idle.
if pushed > 0 and length == pushed then
  redis.call('PUBLISH', channel, '1')
  reply[2] = 1
elseif looked then
  local due_after = earliest()
  if due_after and (not due_before or due_after < due_before) then
    redis.call('PUBLISH', channel, 'due')
    reply[2] = 1
  end
end
return reply
