-- list_jobs.lua: one page of a container with each job's fields.
-- KEYS[1] container  KEYS[2] lease
-- ARGV[1] scope  ARGV[2] order: 'pending' (dequeue order), 'asc' or 'desc' (by score)
-- ARGV[3] offset  ARGV[4] count
-- Reply: a list of { id, { field, value, ... }, lease expiry or '' }. A job key that is
-- not a hash is listed with the single field 'malformed' (its TYPE), so one damaged
-- record never fails a listing; an id without a record is listed with 'malformed' 'none'.

local scope, order = ARGV[1], ARGV[2]
local offset, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids
if order == 'pending' then
  -- pending is popped from the right: its head is index -1
  ids = redis.call('LRANGE', KEYS[1], -(offset + count), -(offset + 1))
  local reversed = {}
  for i = #ids, 1, -1 do table.insert(reversed, ids[i]) end
  ids = reversed
elseif order == 'desc' then
  ids = redis.call('ZREVRANGE', KEYS[1], offset, offset + count - 1)
else
  ids = redis.call('ZRANGE', KEYS[1], offset, offset + count - 1)
end
local reply = {}
for _, id in ipairs(ids) do
  local key = job_key(scope, id)
  local kind = redis.call('TYPE', key)['ok']
  local fields = { 'malformed', kind }
  if kind == 'hash' then fields = redis.call('HGETALL', key) end
  local score = redis.call('ZSCORE', KEYS[2], id)
  table.insert(reply, { id, fields, score and lease_score(score) or '' })
end
return reply
