/**
 * The Lua scripts behind {@link RedisLedger}. Each runs atomically inside Redis,
 * so one script call is one round trip and no other client sees a half-applied
 * reservation.
 *
 * Data model, per counter (one BudgetScope), all under the agent's hash tag
 * (docs/ledgers.md, "Redis key layout"):
 * - `c` HASH  { s: spent nanos, r: sum of the holds in nanos, e: when a sweep is next due (ms),
 *             and one field per live hold: `<reservation id>|<amount>` = expiresAt (ms) }
 * - `x` ZSET  holds that expired (same members), score = when they were swept, and records'
 *             applied-once markers (`!<id>`); kept `keep` ms so a late settle still finds and
 *             charges its hold once.
 * - `h` ZSET  holds written by tollgate before this layout (member `<id>|<amount>`, score =
 *             expiresAt). Nothing here writes it any more; the sweep drops its expired holds
 *             from `r`, so a process of the earlier version sharing the Redis during a rolling
 *             deploy (or one that crashed with holds) never locks room for good.
 *
 * The hot path writes each counter once per script: a reserve is one HMGET and one HSET per
 * counter (r, the hold and e together), a settle one HDEL and two HINCRBYs. Expired holds are
 * dropped lazily: `e` is at most the earliest expiry of the holds in `c` (reserve lowers it,
 * settle leaves it, which only makes it early, and deletes it with the last hold, r 0) and at
 * most a minute after the last sweep (for holds the earlier version put in `h`). A script that finds `now >= e` sweeps the counter:
 * one HGETALL, the expired holds moved to `x`, `r` and `e` written again. So a hold stops
 * counting exactly when it expires, with no purge on every call.
 *
 * Time: ARGV[1] is "now" in epoch ms, or '' to use the server's TIME (the default:
 * one clock for a whole fleet, no skew between hosts).
 *
 * Integers are formatted with '%d' before going back to Redis: redis.call turns a
 * Lua number into a string that may use an exponent (1.7e+12), which HINCRBY and
 * PEXPIRE refuse. Redis' Lua 5.1 formats '%d' from a C long (64 bits on the platforms
 * Redis supports), exact for every integer a double holds (up to 2^53), and about 3x
 * cheaper than '%.0f' (a double printf), which showed in the benchmark.
 *
 * Work per script is what limits throughput (bench/redis-ledger.bench.ts: a redis.call costs
 * about 1.5 µs, a number formatted about 0.3 µs): the hot path reads ARGV it needs only.
 */
import { createHash } from 'node:crypto';

/** A script body and its SHA1 (what EVALSHA names it by). */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const lua = body;
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const BASE = `
local function int(n) return string.format('%d', n) end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- How long a counter's keys live: a window counter until its window ends plus
-- grace, a task counter (resetAt '-1') for idle ms after its last write; never
-- shorter than floor (the longest hold plus a minute).
local function lifetime(resetAt, now, grace, idle, floor)
  local t
  if resetAt ~= '-1' then t = tonumber(resetAt) + tonumber(grace) - now else t = tonumber(idle) end
  if t < floor then t = floor end
  return t
end
`;

/** BASE plus the sweep, for the scripts that read counters (RESERVE, READ). */
const SWEEPING =
  BASE +
  `
-- Longest between two sweeps of a counter: bounds how long an expired hold of the
-- earlier layout (sorted set h, which sets no e) keeps counting.
local SWEEP = 60000
-- Fields given to one command from a Lua unpack (its C stack is limited).
local CHUNK = 1000
local function each_chunk(list, fn)
  for i = 1, #list, CHUNK do fn(unpack(list, i, math.min(i + CHUNK - 1, #list))) end
end
-- Drops the holds that expired (expiresAt <= now) from the reserved sum r and moves
-- them to x, so the room comes back by itself when a holder crashed. Writes r and the
-- next sweep time e to c; returns the new r and e.
local function sweep(c, h, x, now, keep, life, r)
  local all = redis.call('HGETALL', c)
  local dead, moved, due, at_now = {}, {}, now + SWEEP, int(now)
  for i = 1, #all, 2 do
    local amount = string.match(all[i], '|(%d+)$')
    if amount then
      local at = tonumber(all[i + 1])
      if at <= now then
        r = r - tonumber(amount)
        dead[#dead + 1] = all[i]
        moved[#moved + 1] = at_now
        moved[#moved + 1] = all[i]
      elseif at < due then
        due = at
      end
    end
  end
  local old = redis.call('ZRANGEBYSCORE', h, '-inf', at_now)
  if #old > 0 then
    for i = 1, #old do
      r = r - tonumber(string.match(old[i], '|(%d+)$'))
      moved[#moved + 1] = at_now
      moved[#moved + 1] = old[i]
    end
    redis.call('ZREMRANGEBYSCORE', h, '-inf', at_now)
  end
  local first = redis.call('ZRANGE', h, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) < due then due = tonumber(first[2]) end
  if #dead > 0 then each_chunk(dead, function(...) redis.call('HDEL', c, ...) end) end
  if #moved > 0 then
    each_chunk(moved, function(...) redis.call('ZADD', x, ...) end)
    redis.call('ZREMRANGEBYSCORE', x, '-inf', int(now - tonumber(keep)))
    redis.call('PEXPIRE', x, int(life))
  end
  redis.call('HSET', c, 'r', int(r), 'e', int(due))
  return r, due
end
-- Reads spent, reserved and the next sweep time of counter i (KEYS c h x at 3i-2 ..), sweeping
-- first when it is due; lifeAt: where its resetAt is in ARGV; floor: the shortest lifetime.
-- Returns s, r, e (e nil when c does not exist) and whether c is new.
local function load(i, now, keep, grace, idle, lifeAt, floor)
  local c = KEYS[3 * i - 2]
  local v = redis.call('HMGET', c, 's', 'r', 'e')
  if v[1] == false and v[2] == false then return 0, 0, nil, true end
  local s = tonumber(v[1]) or 0
  local r = tonumber(v[2]) or 0
  local e
  if v[3] then e = tonumber(v[3]) end
  -- No e: a counter whose holds were all settled (r 0: nothing to sweep), or one the earlier
  -- layout wrote (its holds in h count in r).
  if (e == nil and r ~= 0) or (e ~= nil and now >= e) then
    r, e = sweep(c, KEYS[3 * i - 1], KEYS[3 * i], now, keep, lifetime(ARGV[lifeAt], now, grace, idle, floor), r)
  end
  return s, r, e, false
end
`;

/**
 * KEYS: c1 h1 x1 c2 h2 x2 … ; ARGV: now, ttlMillis, amount, id, grace, idle, keep,
 * then per scope: limit (-1 = none), resetAt (-1 = none).
 * Returns {1, expiresAt, remaining per scope (-1 = uncapped)} or {0, index (1-based), spent, reserved}.
 */
export const RESERVE = script(
  'reserve',
  SWEEPING +
    `
local now = clock(ARGV[1])
local ttl = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local n = #KEYS / 3
-- Per counter i: spent, held, e, whether new, limit (nil = uncapped) at 5i-4 .. 5i.
local st = {}
for i = 1, n do
  local s, r, e, new = load(i, now, ARGV[7], ARGV[5], ARGV[6], 7 + 2 * i, ttl + 60000)
  local limit = ARGV[6 + 2 * i]
  if limit ~= '-1' then
    limit = tonumber(limit)
    if s + r + amount > limit then return {0, i, s, r} end
  else
    limit = nil
  end
  st[5 * i - 4], st[5 * i - 3], st[5 * i - 2], st[5 * i - 1], st[5 * i] = s, r, e, new, limit
end
local expiresAt = now + ttl
local member, expiry = ARGV[4] .. '|' .. ARGV[3], int(expiresAt)
local out = {1, expiresAt}
for i = 1, n do
  local c, r, e, limit = KEYS[3 * i - 2], st[5 * i - 3], st[5 * i - 2], st[5 * i]
  -- e only ever moves earlier here (a sweep sets it again).
  if e ~= nil and e <= expiresAt then
    redis.call('HSET', c, 'r', int(r + amount), member, expiry)
  else
    if e == nil or e > now + SWEEP then e = now + SWEEP end
    if expiresAt < e then e = expiresAt end
    redis.call('HSET', c, 'r', int(r + amount), member, expiry, 'e', int(e))
  end
  -- A window's end is fixed: its key needs a TTL only when created. A task counter's idle
  -- TTL restarts at every use.
  local resetAt = ARGV[7 + 2 * i]
  if st[5 * i - 1] or resetAt == '-1' then
    redis.call('PEXPIRE', c, int(lifetime(resetAt, now, ARGV[5], ARGV[6], ttl + 60000)))
  end
  if limit then out[i + 2] = limit - st[5 * i - 4] - r - amount else out[i + 2] = -1 end
end
return out
`,
);

/**
 * Settle, release (actual 0) and record (id starting with '!', applied once per id) in one script.
 * KEYS: c1 h1 x1 …; ARGV: now, id, held amount, actual, retry ('1'/'0'), grace, idle,
 * then per scope: resetAt (-1 = none).
 *
 * A hold found live (a field of c) is removed from the reserved sum; one found expired is
 * taken out of x. The actual cost is added when the hold was found, and on a first
 * attempt also when it was not (the call happened, its cost is real). A retry of
 * a write whose first attempt may have landed (its reply was lost) only applies
 * where the hold is still found, so it never counts twice.
 * Returns the number of counters charged.
 */
export const SETTLE = script(
  'settle',
  BASE +
    `
-- The clock is read only when a TTL or a marker needs it (not on the hot path).
local at
local function now()
  if at == nil then at = clock(ARGV[1]) end
  return at
end
local id, actual = ARGV[2], ARGV[4]
local actualNum = tonumber(actual)
local member = id .. '|' .. ARGV[3]
local heldNeg = '-' .. ARGV[3]
local retry = ARGV[5] == '1'
local record = string.sub(id, 1, 1) == '!'
local charged = 0
for i = 1, #KEYS / 3 do
  local c, x = KEYS[3 * i - 2], KEYS[3 * i]
  local resetAt = ARGV[7 + i]
  local apply = id == '' or not retry
  if record then
    -- A record: applied once per id, first attempt or retry. Its marker lives in x beside the
    -- expired holds (same slot, trimmed with them after keep ms; the key lives as long as c).
    apply = redis.call('ZADD', x, 'NX', int(now()), id) == 1
    if apply then redis.call('PEXPIRE', x, int(lifetime(resetAt, now(), ARGV[6], ARGV[7], 60000))) end
  elseif id ~= '' then
    if redis.call('HDEL', c, member) == 1 then
      -- The last hold gone: no sweep is due (a counter without e and with r 0 is not swept).
      if ARGV[3] ~= '0' and redis.call('HINCRBY', c, 'r', heldNeg) == 0 then redis.call('HDEL', c, 'e') end
      apply = true
    elseif redis.call('ZREM', x, member) == 1 then
      apply = true
    end
  end
  if apply and actual ~= '0' then
    -- s == actual: the counter was new (or expired) and needs its TTL; task counters restart theirs.
    local s = redis.call('HINCRBY', c, 's', actual)
    -- Saturates like the other ledgers (MAX_COUNTER_NANOS = 2^52): reads stay exact JS numbers.
    if s > 4503599627370496 then redis.call('HSET', c, 's', '4503599627370496') end
    if resetAt == '-1' or s == actualNum then
      redis.call('PEXPIRE', c, int(lifetime(resetAt, now(), ARGV[6], ARGV[7], 60000)))
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
  SWEEPING +
    `
local now = clock(ARGV[1])
local out = {}
for i = 1, #KEYS / 3 do
  local s, r = load(i, now, ARGV[2], ARGV[3], ARGV[4], 4 + i, 60000)
  out[2 * i - 1] = s
  out[2 * i] = r
end
return out
`,
);

export const SCRIPTS: readonly LuaScript[] = [RESERVE, SETTLE, READ];
