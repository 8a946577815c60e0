-- job_info.lua: one job's fields, whatever its key holds.
-- KEYS[1] job  KEYS[2] lease  KEYS[3] pending  KEYS[4] active  KEYS[5] scheduled
-- KEYS[6] retry  KEYS[7] archived  KEYS[8] completed
-- ARGV[1] job id
-- Reply: { TYPE of the job key, { field, value, ... } (empty unless a hash), lease expiry
-- or '', the state whose container holds the id or '' }. The container tells an operator
-- where a damaged record sits.

local id = ARGV[1]
local kind = redis.call('TYPE', KEYS[1])['ok']
local fields = {}
if kind == 'hash' then fields = redis.call('HGETALL', KEYS[1]) end
local held = ''
if kind ~= 'hash' then
  local names = { 'active', 'scheduled', 'retry', 'archived', 'completed' }
  for i, name in ipairs(names) do
    if redis.call('ZSCORE', KEYS[3 + i], id) then held = name end
  end
  if held == '' and redis.call('LPOS', KEYS[3], id) then held = 'pending' end
end
local score = redis.call('ZSCORE', KEYS[2], id)
return { kind, fields, score and lease_score(score) or '', held }
