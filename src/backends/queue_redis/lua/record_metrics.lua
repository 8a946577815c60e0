-- record_metrics.lua: add workers' counts to one queue's minute of metrics history.
-- KEYS[1] the minute's hash (Q:m:<minute>)
-- ARGV[1] now  ARGV[2] expiry (minute + keep)  ARGV[3] collect after (ms of Redis time)
-- ARGV[4] histogram slots (n)
-- ARGV[5..] per job type, 4 + n values: type, processed, failed, run time (us), slot 0..n-1
-- Reply: 1
-- Hash fields: 'exp' = the expiry; 'p:<type>', 'f:<type>', 't:<type>', 'h<i>:<type>' = counts.

local now, expiry = tonumber(ARGV[1]), tonumber(ARGV[2])
local stored = tonumber(redis.call('HGET', KEYS[1], 'exp') or '')
if stored and stored <= now then
  -- Expired by the callers' clock but not yet collected: start the minute afresh.
  redis.call('DEL', KEYS[1])
  stored = nil
end
if (not stored) or expiry > stored then
  redis.call('HSET', KEYS[1], 'exp', ARGV[2])
end
local slots = tonumber(ARGV[4])
local i = 5
while i <= #ARGV do
  local t = ARGV[i]
  redis.call('HINCRBY', KEYS[1], 'p:' .. t, ARGV[i + 1])
  redis.call('HINCRBY', KEYS[1], 'f:' .. t, ARGV[i + 2])
  redis.call('HINCRBY', KEYS[1], 't:' .. t, ARGV[i + 3])
  for s = 0, slots - 1 do
    redis.call('HINCRBY', KEYS[1], 'h' .. s .. ':' .. t, ARGV[i + 4 + s])
  end
  i = i + 4 + slots
end
-- The TTL only collects the hash well after its expiry; it never shortens.
local collect = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < collect then
  redis.call('PEXPIRE', KEYS[1], collect)
end
return 1
