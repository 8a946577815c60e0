-- lose_lease.lua (testing interface): forget an active job's lease entry, as a crash
-- between two writes or a write lost to eviction or a failover would.
-- KEYS[1] lease
-- ARGV[1] scope  ARGV[2] job id
-- Reply: 1 when the job is active (its lease entry is gone now), else 0.
-- The job hash keeps its token, so the lease still fences writes; only the expiry is lost.

local id = ARGV[2]
if redis.call('HGET', job_key(ARGV[1], id), 'state') ~= 'active' then
  return 0
end
redis.call('ZREM', KEYS[1], id)
return 1
