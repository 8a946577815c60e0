-- claim.lua: a once-per-key claim, judged by the caller's clock.
-- KEYS[1] the claim
-- ARGV[1] now  ARGV[2] claim expiry (now + ttl)  ARGV[3] key TTL in ms (garbage collection)
-- Reply: 1 when this call claimed the key, 0 when a claim that has not expired holds it.
-- The stored expiry, not Redis' own TTL, decides: time is an argument, so a ManualClock
-- (or a broker-clock offset) judges claims the same way it judges leases.

local held_until = tonumber(redis.call('GET', KEYS[1]))
if held_until and held_until > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
