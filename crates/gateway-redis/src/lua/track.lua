-- Adds what requests really spent to the counters of subjects without quotas or
-- budgets (they reserved nothing at admission, so nothing is given back): the sums
-- of many requests, gathered by the gateway for a few milliseconds, in one call.
--
-- KEYS, 3 per entry: day hash, month hash, lifetime string.
-- ARGV, 5 per entry: day ttl_ms, month ttl_ms (from the gateway's clock, as the
-- other scripts count windows), input, output, money.

local function int(x)
  return string.format('%d', x)
end

local function charge(key, amounts, ttl)
  local any = false
  for i, field in ipairs({ 'in', 'out', 'usd' }) do
    if amounts[i] > 0 then
      redis.call('HINCRBY', key, field, int(amounts[i]))
      any = true
    end
  end
  if any then redis.call('PEXPIRE', key, int(ttl)) end
end

for e = 1, #KEYS / 3 do
  local a = (e - 1) * 5
  local day_ttl, month_ttl = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local amounts = { tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]) }
  local k = (e - 1) * 3
  charge(KEYS[k + 1], amounts, day_ttl)
  charge(KEYS[k + 2], amounts, month_ttl)
  if amounts[3] > 0 then redis.call('INCRBY', KEYS[k + 3], int(amounts[3])) end
end
return { 1 }
