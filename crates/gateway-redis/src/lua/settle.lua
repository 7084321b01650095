-- Settles (mode "settle") or releases (mode "release") one admitted request's
-- reservation, per subject as MemoryLimiter's Hold does: the tokens-per-minute cell
-- takes the difference, and each counter gives back what was reserved in the window
-- of the admission (a window that has ended since keeps it: it is no longer read)
-- and, when settling, is charged the actual amount in the window of now.
--
-- KEYS, 6 per subject: rates hash, day hash then, month hash then, lifetime string,
-- day hash now, month hash now.
-- ARGV: mode, now_ms, day_end_ms, month_end_ms, reserved input, output, money,
-- actual input, output, money, then per subject two flags: 1 when it had a tpm
-- limit, else 0; 1 when its counters were reserved at admission (it had a quota or
-- budget), else 0 (they only track: the actual amounts are added).

local mode = ARGV[1]
local now = tonumber(ARGV[2])
local day_end = tonumber(ARGV[3])
local month_end = tonumber(ARGV[4])
local res = { tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]) }
local act = { tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]) }
if mode ~= 'settle' then act = { 0, 0, 0 } end
local GRACE = 3600000
local MINUTE = 60000

local function idiv(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

local function int(x)
  return string.format('%d', x)
end

-- Gives back `amount` from `field` of hash `key` (never below 0), if it exists.
local function give_back(key, field, amount)
  if amount <= 0 then return end
  local v = tonumber(redis.call('HGET', key, field))
  if v ~= nil then
    redis.call('HSET', key, field, int(math.max(0, v - amount)))
  end
end

-- Charges the actual input, output and money to the counters of hash `key`.
local function charge(key, window_end)
  local any = false
  for i, field in ipairs({ 'in', 'out', 'usd' }) do
    if act[i] > 0 then
      redis.call('HINCRBY', key, field, int(act[i]))
      any = true
    end
  end
  if any then redis.call('PEXPIRE', key, int(window_end - now + GRACE)) end
end

local n = #KEYS / 6
for s = 1, n do
  local k = (s - 1) * 6
  local rates, day_then, month_then, total = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local day_now, month_now = KEYS[k + 5], KEYS[k + 6]
  if ARGV[9 + 2 * s] == '1' then
    -- tat += delta x period, in the scale the cell was written for.
    local cell = redis.call('HMGET', rates, 'tpm:t', 'tpm:f', 'tpm:l')
    local t, f, l = tonumber(cell[1]), tonumber(cell[2]), tonumber(cell[3])
    if t ~= nil and l > 0 then
      local delta = (act[1] + act[2]) - (res[1] + res[2])
      local scaled = f + delta * MINUTE
      local whole = idiv(scaled, l)
      t = t + whole
      redis.call('HSET', rates, 'tpm:t', int(t), 'tpm:f', int(scaled - whole * l))
      local ttl = redis.call('PTTL', rates)
      local needed = (t - now) + MINUTE + 1
      if needed > ttl then redis.call('PEXPIRE', rates, int(needed)) end
    end
  end
  -- Nothing of the counters was reserved for a subject without quotas or budgets.
  local back = res
  if ARGV[10 + 2 * s] ~= '1' then back = { 0, 0, 0 } end
  give_back(day_then, 'in', back[1])
  give_back(day_then, 'out', back[2])
  give_back(day_then, 'usd', back[3])
  give_back(month_then, 'in', back[1])
  give_back(month_then, 'out', back[2])
  give_back(month_then, 'usd', back[3])
  if back[3] > 0 then
    local spent = tonumber(redis.call('GET', total))
    if spent ~= nil then
      redis.call('SET', total, int(math.max(0, spent - back[3]) + act[3]))
    elseif act[3] > 0 then
      redis.call('SET', total, int(act[3]))
    end
  elseif act[3] > 0 then
    redis.call('INCRBY', total, int(act[3]))
  end
  charge(day_now, day_end)
  charge(month_now, month_end)
end
return { 1 }
