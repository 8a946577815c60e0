-- dependents.lua: the jobs waiting for one job.
-- KEYS[1] the job's hash  KEYS[2] its set of dependents
-- ARGV[1] scope
-- Reply: 0 when the job does not exist, else the IDs of its dependents in state 'waiting'
-- (a member that left waiting is not waiting for it any more).

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local waiting = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HGET', job_key(ARGV[1], id), 'state') == 'waiting' then
    table.insert(waiting, id)
  end
end
return waiting
