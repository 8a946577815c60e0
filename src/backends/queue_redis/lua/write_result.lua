-- write_result.lua: store a result on an active job this lease still holds.
-- KEYS[1] the job's hash
-- ARGV[1] token  ARGV[2] result bytes
-- Reply: 1 written, 0 fenced (nothing written; never creates a record).

if redis.call('HGET', KEYS[1], 'state') == 'active' and redis.call('HGET', KEYS[1], 'lease') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'result', ARGV[2])
  return 1
end
return 0
