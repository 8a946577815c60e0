-- take_token.lua: a token bucket shared by every process (distributed rate limit).
-- KEYS[1] the bucket
-- ARGV[1] now  ARGV[2] rate (tokens per second)  ARGV[3] burst (bucket size)
-- Reply: '0' when a token was taken, else the seconds until one is free (as a string,
-- since Lua numbers in replies are truncated to integers).

local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens then
  tokens, at = burst, now
end
-- A clock that went backwards must not mint tokens.
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
-- The bucket is full again burst / rate seconds after `at` (by the callers' clock); the key
-- outlives that by a minute of Redis time, only to be collected: Redis' clock decides nothing.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return tostring(wait)
