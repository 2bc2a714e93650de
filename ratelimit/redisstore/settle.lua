-- settle: correct what reserve charged, in the buckets it charged, if they are still there.
--
-- KEYS[1] the minute window, KEYS[2] the day window. ARGV the minute bucket and the day bucket (-1: none), the
-- requests and the tokens to add (negative to take back). A bucket that has left its window (or a window
-- the server lost) is not recreated, and no sum goes below 0, so a late correction never makes room that
-- was not there.
local function add(key, f, d)
  if d ~= '0' and redis.call('HEXISTS', key, f) == 1 then
    if redis.call('HINCRBY', key, f, d) < 0 then
      redis.call('HSET', key, f, 0)
    end
  end
end
if ARGV[1] ~= '-1' then
  add(KEYS[1], 'r' .. ARGV[1], ARGV[3])
  add(KEYS[1], 't' .. ARGV[1], ARGV[4])
end
if ARGV[2] ~= '-1' then
  add(KEYS[2], 't' .. ARGV[2], ARGV[4])
end
return 0
