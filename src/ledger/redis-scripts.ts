/**
 * The Lua scripts behind {@link RedisLedger}. Each runs atomically inside Redis,
 * so one script call is one round trip and no other client sees a half-applied
 * reservation.
 *
 * Data model, per counter (one BudgetScope), all under the agent's hash tag:
 * - `c` HASH  { s: spent nanos, r: sum of live holds in nanos }
 * - `h` ZSET  live holds: member `<reservation id>|<amount>`, score = expiresAt (ms)
 * - `x` ZSET  holds that expired (same members), score = when they were purged;
 *             kept `keep` ms so a late settle still finds and charges its hold once.
 *
 * Time: ARGV[1] is "now" in epoch ms, or '' to use the server's TIME (the default:
 * one clock for a whole fleet, no skew between hosts).
 *
 * Integers are formatted with '%.0f' before going back to Redis: redis.call turns a
 * Lua number into a string that may use an exponent (1.7e+12), which HINCRBY and
 * PEXPIRE refuse; doubles hold every integer up to 2^53 exactly.
 */
import { createHash } from 'node:crypto';

/** A script body and its SHA1 (what EVALSHA names it by). */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const lua = COMMON + body;
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const COMMON = `
-- 0 is written as '0': '%.0f' of -0 gives '-0', which HINCRBY refuses (a hold of 0 settled).
local function int(n) if n == 0 then return '0' end return string.format('%.0f', n) end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- How long a counter's keys live: a window counter until its window ends plus
-- grace, a task counter (resetAt < 0) for idle ms after its last write; never
-- shorter than the longest hold plus a minute.
local function lifetime(resetAt, now, grace, idle, floor)
  local t
  if resetAt >= 0 then t = resetAt + grace - now else t = idle end
  if t < floor then t = floor end
  return t
end
-- Drops the holds that expired (expiresAt <= now) from the reserved sum and moves
-- them to x, so the room comes back by itself when a holder crashed.
local function purge(c, h, x, now, keep, life)
  local dead = redis.call('ZRANGEBYSCORE', h, '-inf', int(now))
  local n = #dead
  if n == 0 then return end
  local sum = 0
  for i = 1, n do
    local m = dead[i]
    sum = sum + tonumber(string.match(m, '|(%d+)$'))
    redis.call('ZADD', x, int(now), m)
  end
  redis.call('ZREMRANGEBYSCORE', h, '-inf', int(now))
  redis.call('HINCRBY', c, 'r', int(-sum))
  redis.call('ZREMRANGEBYSCORE', x, '-inf', int(now - keep))
  redis.call('PEXPIRE', x, int(life))
end
`;

/**
 * KEYS: c1 h1 x1 c2 h2 x2 … ; ARGV: now, ttlMillis, amount, id, grace, idle, keep,
 * then per scope: limit (-1 = none), resetAt (-1 = none).
 * Returns {1, expiresAt, remaining per scope (-1 = uncapped)} or {0, index (1-based), spent, reserved}.
 */
export const RESERVE = script(
  'reserve',
  `
local now = clock(ARGV[1])
local ttl = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local member = ARGV[4] .. '|' .. ARGV[3]
local grace, idle, keep = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local n = #KEYS / 3
local spent, held, life, limit, fresh = {}, {}, {}, {}, {}
for i = 1, n do
  local c, h, x = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  limit[i] = tonumber(ARGV[6 + 2 * i])
  life[i] = lifetime(tonumber(ARGV[7 + 2 * i]), now, grace, idle, ttl + 60000)
  purge(c, h, x, now, keep, life[i])
  local v = redis.call('HMGET', c, 's', 'r')
  local s = tonumber(v[1]) or 0
  local r = tonumber(v[2]) or 0
  if limit[i] >= 0 and s + r + amount > limit[i] then return {0, i, s, r} end
  spent[i] = s
  held[i] = r
  fresh[i] = v[1] == false and v[2] == false
end
local expiresAt = now + ttl
local out = {1, expiresAt}
for i = 1, n do
  local c, h = KEYS[3 * i - 2], KEYS[3 * i - 1]
  local task = tonumber(ARGV[7 + 2 * i]) < 0
  redis.call('HINCRBY', c, 'r', ARGV[3])
  redis.call('ZADD', h, int(expiresAt), member)
  -- A window's end is fixed: its keys need a TTL only when created (c new, or h
  -- empty, which Redis deletes). A task counter's idle TTL restarts at every use.
  if task or fresh[i] then redis.call('PEXPIRE', c, int(life[i])) end
  if task or held[i] == 0 or amount == 0 then redis.call('PEXPIRE', h, int(life[i])) end
  if limit[i] >= 0 then out[i + 2] = limit[i] - spent[i] - held[i] - amount else out[i + 2] = -1 end
end
return out
`,
);

/**
 * Settle, release (actual 0) and record (id starting with '!', applied once per id) in one script.
 * KEYS: c1 h1 x1 …; ARGV: now, id, held amount, actual, retry ('1'/'0'), grace, idle,
 * then per scope: resetAt (-1 = none).
 *
 * A hold found live is removed from the reserved sum; one found expired is taken
 * out of x. The actual cost is added when the hold was found, and on a first
 * attempt also when it was not (the call happened, its cost is real). A retry of
 * a write whose first attempt may have landed (its reply was lost) only applies
 * where the hold is still found, so it never counts twice.
 * Returns the number of counters charged.
 */
export const SETTLE = script(
  'settle',
  `
local now = clock(ARGV[1])
local id = ARGV[2]
local member = id .. '|' .. ARGV[3]
local heldNeg = int(-tonumber(ARGV[3]))
local actual = ARGV[4]
local retry = ARGV[5] == '1'
local grace, idle = tonumber(ARGV[6]), tonumber(ARGV[7])
local charged = 0
for i = 1, #KEYS / 3 do
  local c, h, x = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local apply = id == '' or not retry
  if string.sub(id, 1, 1) == '!' then
    -- A record: applied once per id, first attempt or retry. Its marker lives in x beside the
    -- expired holds (same slot, trimmed with them after keep ms; the key lives as long as c).
    apply = redis.call('ZADD', x, 'NX', int(now), id) == 1
    if apply then redis.call('PEXPIRE', x, int(lifetime(tonumber(ARGV[7 + i]), now, grace, idle, 60000))) end
  elseif id ~= '' then
    if redis.call('ZREM', h, member) == 1 then
      redis.call('HINCRBY', c, 'r', heldNeg)
      apply = true
    elseif redis.call('ZREM', x, member) == 1 then
      apply = true
    end
  end
  if apply and actual ~= '0' then
    local resetAt = tonumber(ARGV[7 + i])
    -- s == actual: the counter was new (or expired) and needs its TTL; task counters restart theirs.
    local s = redis.call('HINCRBY', c, 's', actual)
    -- Saturates like the other ledgers (MAX_COUNTER_NANOS = 2^52): reads stay exact JS numbers.
    if s > 4503599627370496 then redis.call('HSET', c, 's', '4503599627370496') end
    if s == tonumber(actual) or resetAt < 0 then
      redis.call('PEXPIRE', c, int(lifetime(resetAt, now, grace, idle, 60000)))
    end
    charged = charged + 1
  end
end
return charged
`,
);

/**
 * KEYS: c1 h1 x1 …; ARGV: now, keep, grace, idle, then per scope: resetAt.
 * Returns {spent1, reserved1, spent2, reserved2, …} after dropping expired holds.
 */
export const READ = script(
  'read',
  `
local now = clock(ARGV[1])
local keep, grace, idle = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 1, #KEYS / 3 do
  local c, h, x = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  purge(c, h, x, now, keep, lifetime(tonumber(ARGV[4 + i]), now, grace, idle, 60000))
  local v = redis.call('HMGET', c, 's', 'r')
  out[2 * i - 1] = tonumber(v[1]) or 0
  out[2 * i] = tonumber(v[2]) or 0
end
return out
`,
);

export const SCRIPTS: readonly LuaScript[] = [RESERVE, SETTLE, READ];
