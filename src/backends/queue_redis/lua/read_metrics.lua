-- read_metrics.lua: one queue's minutes of metrics history in a range.
-- KEYS[1] the first minute's hash (names the queue's hash slot; the others are built from scope)
-- ARGV[1] scope  ARGV[2] first minute  ARGV[3] last minute (epoch seconds, multiples of 60)
-- ARGV[4] now
-- Reply: { minute, { field, value, ... }, minute, { ... }, ... } for each minute stored and
-- not expired at now (expiry > now), oldest first.

local scope, first, last, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local reply = {}
for minute = first, last, 60 do
  local key = scope .. 'm:' .. string.format('%d', minute)
  local expiry = tonumber(redis.call('HGET', key, 'exp') or '')
  if expiry and expiry > now then
    reply[#reply + 1] = string.format('%d', minute)
    reply[#reply + 1] = redis.call('HGETALL', key)
  end
end
return reply
