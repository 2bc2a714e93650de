-- spend: check a money budget's day and month and charge a request's estimate, atomically.
--
-- KEYS[1] the scope's spend in the day, KEYS[2] in the month (USD as strings, INCRBYFLOAT; one hash tag).
-- ARGV: the estimate, the day's and the month's limit (0: none), what the caller has settled but not yet
-- written for the day and the month, and the keys' lifetimes in ms.
-- Answers {"ok", spent} with the day's spend after the charge, or {"day"|"month", spent} with what that
-- period holds, uncharged (the rule of usage.Check).
local est = tonumber(ARGV[1])
local perDay, perMonth = tonumber(ARGV[2]), tonumber(ARGV[3])
local day = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[4])
local month = tonumber(redis.call('GET', KEYS[2]) or '0') + tonumber(ARGV[5])
if perDay > 0 and day + est > perDay then
  return {'day', tostring(day)}
end
if perMonth > 0 and month + est > perMonth then
  return {'month', tostring(month)}
end
if est ~= 0 then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
  redis.call('INCRBYFLOAT', KEYS[2], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {'ok', tostring(day + est)}
