-- cooldown: take a name out of rotation, or end its cooldown.
--
-- KEYS[1] the cooldown (a string holding its cause, expiring when it ends). ARGV the length in ms and the cause.
-- A length > 0 sets the cooldown unless one that ends later is running; 0 deletes it if it is for that cause.
local ms = tonumber(ARGV[1])
if ms > 0 then
  if redis.call('PTTL', KEYS[1]) < ms then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  end
elseif redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
end
return 0
