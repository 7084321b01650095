-- Checks, and with mode "admit" reserves, every limit of a key and its project in
-- one step (a Lua script runs atomically on the server). The same arithmetic as
-- gateway-auth's MemoryLimiter: integer GCRA with time scaled by the limit, and
-- counters per UTC day / calendar month / lifetime. Lua numbers are doubles, exact
-- for integers below 2^53: the caller clamps limits and amounts below that, and
-- time is kept in milliseconds (a rate's state is its "tat" as whole ms plus a
-- fraction in 1/limit ms), so a scaled figure stays below 2^53 for any limit up to
-- 10^8 per day.
--
-- KEYS, 4 per subject (the key, then its project): rates hash, day hash, month
-- hash, lifetime string.
-- ARGV: mode ("admit" | "peek"), now_ms, day_end_ms, month_end_ms, input, output,
-- money, then 11 limits per subject in LimitKind::ALL order (-1: not set).
-- Reply: admitted {1, per subject: 4 x (remaining, reset_ms) for rpm rph rpd tpm,
-- then used of day_in day_out month_in month_out day_usd month_usd total_usd (0s
-- when admitting for a subject without quotas or budgets)};
-- refused {0, subject (0 key, 1 project), limit index, remaining, wait_ms}.

local mode = ARGV[1]
local now = tonumber(ARGV[2])
local day_end = tonumber(ARGV[3])
local month_end = tonumber(ARGV[4])
local est_in, est_out, est_money = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
-- Each rate cell's fields, in the order read: tat (whole ms), fraction, limit.
local FIELDS = {
  'rpm:t', 'rpm:f', 'rpm:l', 'rph:t', 'rph:f', 'rph:l',
  'rpd:t', 'rpd:f', 'rpd:l', 'tpm:t', 'tpm:f', 'tpm:l',
}
local PERIOD = { 60000, 3600000, 86400000, 60000 }
-- Windows expire an hour after they end, counted from the caller's clock (not the
-- server's), so the gateway's time decides.
local GRACE = 3600000

-- floor(a / b) for integers, exact where a / b in doubles may round up.
local function idiv(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

local function int(x)
  return string.format('%d', x)
end

-- A rate cell's owed time at `now` in ms x `limit`: 0 when full; re-expressed for a
-- changed limit keeping the spent share (MemoryLimiter's rescale).
local function owed(raw, i, limit)
  local t = tonumber(raw[3 * i - 2])
  if t == nil then return 0 end
  local f, l = tonumber(raw[3 * i - 1]), tonumber(raw[3 * i])
  if l == 0 then return 0 end
  local o = (t - now) * l + f
  if o <= 0 then return 0 end
  if l == limit then return o end
  local q = idiv(o, l)
  return q * limit + idiv((o - q * l) * limit, l)
end

local n = #KEYS / 4
local plans = {}
for s = 1, n do
  local base = (s - 1) * 4
  local lim = {}
  for i = 1, 11 do lim[i] = tonumber(ARGV[7 + (s - 1) * 11 + i]) end
  -- A subject without rate limits (a project with budgets only) reads no rate cell.
  local raw = {}
  if lim[1] >= 0 or lim[2] >= 0 or lim[3] >= 0 or lim[4] >= 0 then
    raw = redis.call('HMGET', KEYS[base + 1], unpack(FIELDS))
  end
  -- A subject with no quota or budget reserves nothing at admission: its counters
  -- only track spending, and the settle adds what was really spent. So an
  -- admission neither reads nor writes them (a peek still reads them).
  local counted = false
  for i = 5, 11 do
    if lim[i] >= 0 then counted = true end
  end
  local used = { 0, 0, 0, 0, 0, 0, 0 }
  if counted or mode ~= 'admit' then
    local day = redis.call('HMGET', KEYS[base + 2], 'in', 'out', 'usd')
    local month = redis.call('HMGET', KEYS[base + 3], 'in', 'out', 'usd')
    used = {
      tonumber(day[1]) or 0, tonumber(day[2]) or 0,
      tonumber(month[1]) or 0, tonumber(month[2]) or 0,
      tonumber(day[3]) or 0, tonumber(month[3]) or 0,
      tonumber(redis.call('GET', KEYS[base + 4])) or 0,
    }
  end
  local plan = { lim = lim, owed = {}, used = used, counted = counted }
  local units = { 1, 1, 1, est_in + est_out }
  for i = 1, 4 do
    local l = lim[i]
    if l >= 0 then
      local o = 0
      if l > 0 then o = owed(raw, i, l) end
      plan.owed[i] = o
      if mode == 'admit' then
        if l == 0 then return { 0, s - 1, i - 1, 0, -1 } end
        local p = PERIOD[i]
        local cap = p * l
        local needed = o + math.min(units[i], l) * p
        if needed > cap then
          local remaining = math.max(0, idiv(cap - o, p))
          return { 0, s - 1, i - 1, remaining, idiv(needed - cap + l - 1, l) }
        end
        plan.owed[i] = o + units[i] * p
      end
    end
  end
  local amounts = { est_in, est_out, est_in, est_out, est_money, est_money, est_money }
  if mode == 'admit' and counted then
    for i = 1, 7 do
      local l = lim[4 + i]
      if l >= 0 and (used[i] >= l or used[i] + amounts[i] > l) then
        return { 0, s - 1, 4 + i - 1, math.max(0, l - used[i]), -1 }
      end
    end
    -- Counters count even without a limit: a limit set later sees the spending.
    for i = 1, 7 do used[i] = used[i] + amounts[i] end
  end
  plans[s] = plan
end

local reply = { 1 }
for s = 1, n do
  local base = (s - 1) * 4
  local plan = plans[s]
  local ttl = 0
  local writes = {}
  for i = 1, 4 do
    local l, o = plan.lim[i], plan.owed[i]
    if o ~= nil and l > 0 then
      local p = PERIOD[i]
      local reset = idiv(o + l - 1, l)
      reply[#reply + 1] = math.min(l, idiv(math.max(0, p * l - o), p))
      reply[#reply + 1] = reset
      local whole = idiv(o, l)
      local n = #writes
      writes[n + 1] = FIELDS[3 * i - 2]
      writes[n + 2] = int(now + whole)
      writes[n + 3] = FIELDS[3 * i - 1]
      writes[n + 4] = int(o - whole * l)
      writes[n + 5] = FIELDS[3 * i]
      writes[n + 6] = int(l)
      ttl = math.max(ttl, reset + p)
    else
      reply[#reply + 1] = 0
      reply[#reply + 1] = 0
    end
  end
  for i = 1, 7 do reply[#reply + 1] = plan.used[i] end
  if mode == 'admit' then
    if #writes > 0 then
      redis.call('HSET', KEYS[base + 1], unpack(writes))
      redis.call('PEXPIRE', KEYS[base + 1], int(ttl))
    end
    if plan.counted then
      local u = plan.used
      redis.call('HSET', KEYS[base + 2], 'in', int(u[1]), 'out', int(u[2]), 'usd', int(u[5]))
      redis.call('PEXPIRE', KEYS[base + 2], int(day_end - now + GRACE))
      redis.call('HSET', KEYS[base + 3], 'in', int(u[3]), 'out', int(u[4]), 'usd', int(u[6]))
      redis.call('PEXPIRE', KEYS[base + 3], int(month_end - now + GRACE))
      redis.call('SET', KEYS[base + 4], int(u[7]))
    end
  end
end
return reply
