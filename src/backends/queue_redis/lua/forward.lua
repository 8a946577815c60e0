-- forward.lua: move due scheduled and retry jobs of one queue to pending (or their group).
-- KEYS[1] scheduled  KEYS[2] retry  KEYS[3] pending  KEYS[4] groups
-- ARGV[1] scope  ARGV[2] now  ARGV[3] limit  ARGV[4] notify channel
-- Reply: { moved, notified (1/0) }. Scheduled first, then retry; earliest first.

local scope, now, channel = ARGV[1], ARGV[2], ARGV[4]
local left = tonumber(ARGV[3])
local moved, pushed = 0, 0
for z = 1, 2 do
  if left <= 0 then break end
  local ids = redis.call('ZRANGE', KEYS[z], '-inf', now, 'BYSCORE', 'LIMIT', 0, left)
  for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[z], id)
    local key = job_key(scope, id)
    local v = redis.pcall('HMGET', key, 'state', 'group')
    local group = v[2] or ''  -- not stored when the job has none
    if v['err'] then
      -- not a hash: archived as malformed, so it cannot stop this queue's forwarding
      quarantine(key, id, redis.call('TYPE', key)['ok'], scope .. 'archived', now)
    elseif not v[1] then
      -- a due entry without a record: nothing to move
    elseif group ~= '' then
      redis.call('ZADD', scope .. 'g:' .. group, now, id)
      redis.call('SADD', KEYS[4], group)
      redis.call('HSET', key, 'state', 'aggregating')
      moved = moved + 1
    else
      redis.call('HSET', key, 'state', 'pending', 'pending_since', now)
      redis.call('LPUSH', KEYS[3], id)
      moved = moved + 1
      pushed = pushed + 1
    end
    left = left - 1
  end
end
return { moved, wake(KEYS[3], pushed, channel) }
