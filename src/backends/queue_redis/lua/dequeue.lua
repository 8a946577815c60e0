-- dequeue.lua: lease up to `limit` pending jobs of one queue, head first.
-- KEYS[1] pending  KEYS[2] active  KEYS[3] lease  KEYS[4] paused  KEYS[5] archived
-- KEYS[6] processed  KEYS[7] failed  KEYS[8] processed:<day>  KEYS[9] failed:<day>
-- ARGV[1] scope  ARGV[2] now  ARGV[3] lease expiry  ARGV[4] token prefix  ARGV[5] limit
-- ARGV[6] counter ttl (s)
-- Reply: a flat list, per leased job: id, token, then the fields named in FIELDS below.
-- A job whose deadline has passed is archived instead (not in the reply); a pending id
-- without a record is dropped; a job key that is not a hash is archived as malformed.
-- Archived ids are announced on the queue's finished channel.

local FIELDS = { 'type', 'payload', 'max_retries', 'retried', 'timeout', 'deadline', 'retention',
  'group', 'unique_name', 'headers', 'enqueued', 'crashes', 'bounces', 'last_error' }

if redis.call('EXISTS', KEYS[4]) == 1 then
  return {}
end
local scope, now, expiry, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, ttl = tonumber(ARGV[5]), ARGV[6]
local leased_until = lease_score(expiry)
local tnow = tonumber(now)
-- The active set's score is the start in whole microseconds: only its order is read, and
-- an integer score is stored as one in a small sorted set (a listpack), which every
-- insert compares without parsing a decimal string (a tenth of the cost).
local started = string.format('%d', math.floor(tnow * 1000000))
local reply = {}
-- score/member pairs for the active and lease sets, written once for the whole batch
local active, leased = {}, {}
local taken = 0
local finished = {}
while taken < limit do
  local ids = redis.call('RPOP', KEYS[1], limit - taken)
  if not ids then break end
  for _, id in ipairs(ids) do
    local key = job_key(scope, id)
    -- pcall: a key that is not a hash must not stop the script, or the jobs leased
    -- before it in this call would be left active outside the active and lease sets
    local values = redis.pcall('HMGET', key, unpack(FIELDS))
    if values['err'] then
      quarantine(key, id, redis.call('TYPE', key)['ok'], KEYS[5], now)
      table.insert(finished, id)
      count(KEYS[6], KEYS[8], ttl)
      count(KEYS[7], KEYS[9], ttl)
    elseif values[1] then
      local deadline = tonumber(values[6])
      if deadline and deadline <= tnow then
        redis.call('HSET', key, 'state', 'archived', 'archived_at', now,
          'last_error', 'deadline exceeded before start', 'last_failed_at', now)
        redis.call('ZADD', KEYS[5], now, id)
        table.insert(finished, id)
        count(KEYS[6], KEYS[8], ttl)
        count(KEYS[7], KEYS[9], ttl)
        -- a dependent released here (policy 'run') is in pending: this loop may take it
        settle_if_any(scope, id, 'archived', now)
      else
        local token = prefix .. ':' .. id
        redis.call('HSET', key, 'state', 'active', 'lease', token, 'started_at', now)
        table.insert(active, started)
        table.insert(active, id)
        table.insert(leased, id)
        table.insert(reply, id)
        table.insert(reply, token)
        for i = 1, #FIELDS do
          table.insert(reply, values[i] or '')
        end
        taken = taken + 1
      end
    end
  end
end
chunked('ZADD', KEYS[2], active, 2)
-- Every lease of the batch has the same score; among equal scores a sorted set orders by
-- id, so adding them highest id first puts each at the very front (see lease_score).
table.sort(leased, function(a, b) return a > b end)
local lease = {}
for _, id in ipairs(leased) do
  table.insert(lease, leased_until)
  table.insert(lease, id)
end
chunked('ZADD', KEYS[3], lease, 2)
announce_finished(scope, finished)
return reply
