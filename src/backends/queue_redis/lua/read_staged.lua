-- read_staged.lua: the members of a staging set, oldest first.
-- KEYS[1] the staging set
-- ARGV[1] scope  ARGV[2] set id
-- Reply: a flat list, per member: id, then the fields named in FIELDS (as dequeue.lua).

local FIELDS = { 'staged', 'type', 'payload', 'max_retries', 'retried', 'timeout', 'deadline', 'retention',
  'group', 'unique_name', 'headers', 'enqueued', 'crashes', 'bounces', 'last_error' }
local reply = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local values = redis.call('HMGET', job_key(ARGV[1], id), unpack(FIELDS))
  -- a member an operator ran, archived or deleted meanwhile is no longer staged here
  if values[1] == ARGV[2] then
    table.insert(reply, id)
    for i = 2, #FIELDS do
      table.insert(reply, values[i] or '')
    end
  end
end
return reply
