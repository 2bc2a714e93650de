-- reserve: check and charge one reservation, atomically, on the server's clock.
--
-- KEYS[1] the minute window (hash), KEYS[2] the day window (hash), KEYS[3] the cooldown (string: its cause).
-- ARGV requests/minute, tokens/minute, tokens/day (0: unlimited), the tokens needed, then the minute window's
-- span and bucket width and the day window's, in ms, then how many requests of that many tokens to charge at
-- most (a lease; absent: 1). As many as fit are charged, one at least, or none and a refusal.
--
-- A window is a hash of buckets: field "r<n>" counts the requests of bucket n (the time / width), "t<n>" its
-- tokens. Bucket n counts until one span after its end, so the window is at most one bucket stricter than an
-- exact sliding one; fields past that are deleted when next read, and the whole hash expires one span and
-- two widths after its latest write.
--
-- Returns {code, wait, minute bucket, day bucket, minute requests, minute tokens, day tokens, cooldown, cause,
-- granted}: code 0 charged, 1 requests, 2 tokens, 3 daily, 4 cooling down, 5 too large; wait and cooldown in
-- ms; the buckets -1 where nothing was charged; the sums after the answer (0 for a window an unlimited budget
-- skips); how many requests were charged, each with the tokens needed (0 when refused).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, tpd, need = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local mspan, mwidth, dspan, dwidth = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local want = math.max(math.floor(tonumber(ARGV[9] or '1') or 1), 1)

if (tpm > 0 and need > tpm) or (tpd > 0 and need > tpd) then
  return {5, 0, -1, -1, 0, 0, 0, 0, '', 0}
end

-- load sums the live buckets of a window, deletes the dead ones, and lists the live ones as {n, requests,
-- tokens}. (Buckets are looked up by their field's digits, not by number: a table indexed by large sparse
-- numbers is an array in some Lua implementations.)
local function load(key, span, width)
  local from = math.floor((now - span) / width)
  local raw = redis.call('HGETALL', key)
  local n, tok, byid, list, dead = 0, 0, {}, {}, {}
  for i = 1, #raw, 2 do
    local f, v = raw[i], tonumber(raw[i + 1])
    local digits = string.sub(f, 2)
    local id = tonumber(digits)
    if id == nil or v == nil or id < from then
      dead[#dead + 1] = f
    else
      local e = byid[digits]
      if e == nil then
        e = {id, 0, 0}
        byid[digits] = e
        list[#list + 1] = e
      end
      if string.sub(f, 1, 1) == 'r' then
        e[2], n = e[2] + v, n + v
      else
        e[3], tok = e[3] + v, tok + v
      end
    end
  end
  if #dead > 0 then
    redis.call('HDEL', key, unpack(dead))
  end
  return n, tok, list
end

-- wait is how long until the buckets leaving the window have freed n requests and tok tokens.
local function wait(list, span, width, n, tok)
  table.sort(list, function(a, b) return a[1] < b[1] end)
  for _, e in ipairs(list) do
    n, tok = n - e[2], tok - e[3]
    if n <= 0 and tok <= 0 then
      return math.max((e[1] + 1) * width + span - now, 0)
    end
  end
  return span
end

local code, w = 0, 0
local function short(c, x)
  if code == 0 or x > w then
    code, w = c, x
  end
end

local minute, day = rpm > 0 or tpm > 0, tpd > 0
local mn, mt, dt, mb, db = 0, 0, 0, nil, nil
if minute then
  mn, mt, mb = load(KEYS[1], mspan, mwidth)
  if rpm > 0 and mn + 1 > rpm then
    short(1, wait(mb, mspan, mwidth, mn + 1 - rpm, 0))
  end
  if tpm > 0 and mt + need > tpm then
    short(2, wait(mb, mspan, mwidth, 0, mt + need - tpm))
  end
end
if day then
  local _
  _, dt, db = load(KEYS[2], dspan, dwidth)
  if dt + need > tpd then
    short(3, wait(db, dspan, dwidth, 0, dt + need - tpd))
  end
end
local cool = redis.call('PTTL', KEYS[3])
if cool > 0 then
  return {4, math.max(w, cool), -1, -1, mn, mt, dt, cool, redis.call('GET', KEYS[3]) or '', 0}
end
if code ~= 0 then
  return {code, w, -1, -1, mn, mt, dt, 0, '', 0}
end

-- One request fits; a lease takes as many more as fit, up to want.
local g = want
if rpm > 0 then
  g = math.min(g, rpm - mn)
end
if need > 0 then
  if tpm > 0 then
    g = math.min(g, math.floor((tpm - mt) / need))
  end
  if day then
    g = math.min(g, math.floor((tpd - dt) / need))
  end
end
g = math.max(g, 1)

local mi, di = -1, -1
if minute then
  mi = math.floor(now / mwidth)
  redis.call('HINCRBY', KEYS[1], 'r' .. mi, g)
  redis.call('HINCRBY', KEYS[1], 't' .. mi, g * need)
  redis.call('PEXPIRE', KEYS[1], mspan + 2 * mwidth)
  mn, mt = mn + g, mt + g * need
end
if day then
  di = math.floor(now / dwidth)
  redis.call('HINCRBY', KEYS[2], 't' .. di, g * need)
  redis.call('PEXPIRE', KEYS[2], dspan + 2 * dwidth)
  dt = dt + g * need
end
return {0, 0, mi, di, mn, mt, dt, 0, '', g}
