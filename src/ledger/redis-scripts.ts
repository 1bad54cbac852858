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
 * counter (r, the hold and e together), a settle one HDEL and two HINCRBYs; a batch of reserves
 * (RESERVE_BATCH) or of writes (SETTLE_BATCH) costs the same per counter, whatever its size. Expired holds are
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
 * about 1.5 µs, a number formatted about 0.3 µs): the hot path reads ARGV it needs only. A batch
 * holds at most 256 items (MAX_BATCH in redis.ts), so the scripts' `unpack` of a counter's fields
 * stays far below Lua's C stack limit (8,000).
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

/** BASE plus a clock read only when a TTL or a marker needs it (not on a settle's hot path), for the settle scripts. */
const SETTLING =
  BASE +
  `
local at
local function now()
  if at == nil then at = clock(ARGV[1]) end
  return at
end
-- Whether record id is applied now: once per id, first attempt or retry. Its marker lives in x
-- beside the expired holds (same slot, trimmed with them after keep ms; the key lives as long as c).
local function first_record(x, id) return redis.call('ZADD', x, 'NX', int(now()), id) == 1 end
`;

/** BASE plus the sweep, for the scripts that read counters (RESERVE, READ). */
const SWEEPING =
  BASE +
  `
-- Fields given to one command from a Lua unpack (its C stack is limited).
local CHUNK = 1000
local function each_chunk(list, fn)
  for i = 1, #list, CHUNK do fn(unpack(list, i, math.min(i + CHUNK - 1, #list))) end
end
-- Longest between two sweeps of a counter: bounds how long an expired hold of the
-- earlier layout (sorted set h, which sets no e) keeps counting.
local SWEEP = 60000
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
-- first when it is due; resetAt: its window's end ('-1' = none); floor: the shortest lifetime.
-- Returns s, r, e (e nil when c does not exist) and whether c is new.
local function load(i, now, keep, grace, idle, resetAt, floor)
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
    r, e = sweep(c, KEYS[3 * i - 1], KEYS[3 * i], now, keep, lifetime(resetAt, now, grace, idle, floor), r)
  end
  return s, r, e, false
end
`;

/**
 * One reserve (a batch of one item: the script a lone call has always used, with its cost).
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
  local s, r, e, new = load(i, now, ARGV[7], ARGV[5], ARGV[6], ARGV[7 + 2 * i], ttl + 60000)
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
 * One settle, release (actual 0) or record (id starting with '!', applied once per id): a batch
 * of one item, the script a lone write has always used.
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
  SETTLING +
    `
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
    apply = first_record(x, id)
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
 * Group commit (docs/ledgers.md, "Batching"): the reserves one process issues in the same tick
 * for the same hash tag, in ONE script call, processed in order exactly as one call each would
 * be: each item is checked against the counters including the holds of the items before it.
 * Each counter is read once (swept first when due) and written once per batch: one HMGET and
 * one HSET (r, e and every new hold field) whatever the number of items.
 *
 * KEYS: c1 h1 x1 c2 h2 x2 … (each counter of the batch once).
 * ARGV: now, grace, idle, keep, number of sets; then each set (what items share: their TTL and
 * scopes): ttlMillis, n, then per scope: counter (1-based index into KEYS / 3), limit (-1 = none),
 * resetAt (-1 = none); then each item: set, amount, its hold's field name (`<id>|<amount>`).
 * Returns, item after item: 1, expiresAt, remaining per scope of its set (-1 = uncapped); or
 * 0, index (1-based) of the first scope without room, its spent, its reserved.
 */
export const RESERVE_BATCH = script(
  'reserve-batch',
  SWEEPING +
    `
local now = clock(ARGV[1])
local grace, idle, keep = ARGV[2], ARGV[3], ARGV[4]
local sets, a = {}, 6
for k = 1, tonumber(ARGV[5]) do
  local ttl, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local expiresAt = now + ttl
  -- Per scope i: counter at 3i-2, limit (false = uncapped) at 3i-1, resetAt at 3i.
  local set = {n = n, at = expiresAt, expiry = int(expiresAt), floor = ttl + 60000}
  a = a + 2
  for i = 1, n do
    local limit = ARGV[a + 1]
    set[3 * i - 2] = tonumber(ARGV[a])
    if limit == '-1' then set[3 * i - 1] = false else set[3 * i - 1] = tonumber(limit) end
    set[3 * i] = ARGV[a + 2]
    a = a + 3
  end
  sets[tostring(k)] = set
end
-- Per counter k: spent, held, e (false: none), whether new, the hold fields to write,
-- whether e changed, the TTL to set (false: none).
local S, R, E, NEW, F, ED, T = {}, {}, {}, {}, {}, {}, {}
local out, o = {}, 0
for j = a, #ARGV, 3 do
  local set, amount = sets[ARGV[j]], tonumber(ARGV[j + 1])
  local n, refused = set.n, false
  for i = 1, n do
    local k = set[3 * i - 2]
    if F[k] == nil then
      local s, r, e, new = load(k, now, keep, grace, idle, set[3 * i], set.floor)
      S[k], R[k], E[k], NEW[k], F[k], ED[k], T[k] = s, r, e or false, new, {}, false, false
    end
    local limit = set[3 * i - 1]
    if limit and S[k] + R[k] + amount > limit then
      out[o + 1], out[o + 2], out[o + 3], out[o + 4] = 0, i, S[k], R[k]
      o = o + 4
      refused = true
      break
    end
  end
  if not refused then
    local at, member = set.at, ARGV[j + 2]
    out[o + 1], out[o + 2] = 1, at
    o = o + 2
    for i = 1, n do
      local k = set[3 * i - 2]
      local r, e = R[k], E[k]
      -- e only ever moves earlier here (a sweep sets it again).
      if not e or e > at then
        if not e or e > now + SWEEP then e = now + SWEEP end
        if at < e then e = at end
        E[k], ED[k] = e, true
      end
      R[k] = r + amount
      local f = F[k]
      f[#f + 1] = member
      f[#f + 1] = set.expiry
      -- A window's end is fixed: its key needs a TTL only when created. A task counter's idle
      -- TTL restarts at every use.
      local resetAt = set[3 * i]
      if NEW[k] or resetAt == '-1' then
        T[k] = lifetime(resetAt, now, grace, idle, set.floor)
        NEW[k] = false
      end
      local limit = set[3 * i - 1]
      o = o + 1
      if limit then out[o] = limit - S[k] - r - amount else out[o] = -1 end
    end
  end
end
-- A counter given HOT holds or more by one batch is busy: a field t whose value is longer than
-- Redis's listpack limit (hash-max-listpack-value, 64 bytes by default) turns its hash into a
-- hash table, in which each hold field is found without scanning all the others.
local HOT = 16
for k, f in pairs(F) do
  if #f > 0 then
    local c = KEYS[3 * k - 2]
    if #f >= 2 * HOT then
      f[#f + 1] = 't'
      f[#f + 1] = string.rep('t', 65)
    end
    f[#f + 1] = 'r'
    f[#f + 1] = int(R[k])
    if ED[k] then
      f[#f + 1] = 'e'
      f[#f + 1] = int(E[k])
    end
    redis.call('HSET', c, unpack(f))
    if T[k] then redis.call('PEXPIRE', c, int(T[k])) end
  end
end
return out
`,
);

/**
 * Settles, releases (actual 0) and records (id starting with '!', applied once per id) issued in
 * the same tick for the same hash tag, in one script, processed in order exactly as one call
 * each would be (docs/ledgers.md, "Batching").
 *
 * KEYS: c1 h1 x1 … (each counter of the batch once).
 * ARGV: now, grace, idle, number of sets; then each set (what items share): retry ('1'/'0'), n,
 * then per scope: counter (1-based index into KEYS / 3), resetAt (-1 = none); then each item:
 * set, key (its hold's field name `<id>|<held>`, a record's id, or '' for no hold), held amount,
 * actual. Sets are looked up by their index as sent (a string: no number parsed per item).
 *
 * Per item and counter, SETTLE's rules (above); a hold settled by an earlier item of the batch
 * is no longer found, so a retry in the same batch as its first attempt is not counted twice.
 *
 * Each counter is written once per batch: one HDEL of the holds found (read first with one HMGET
 * when several items name holds of that counter), one HINCRBY of r and one of s; only a hold not
 * found costs a ZREM of its own, and a record its ZADD. Returns the number of (item, counter)
 * pairs charged.
 */
export const SETTLE_BATCH = script(
  'settle-batch',
  SETTLING +
    `
local grace, idle = ARGV[2], ARGV[3]
local MAX = 4503599627370496
local sets, a = {}, 5
for k = 1, tonumber(ARGV[4]) do
  local n = tonumber(ARGV[a + 1])
  local set = {n = n, retry = ARGV[a] == '1'}
  a = a + 2
  for i = 1, n do
    set[2 * i - 1] = tonumber(ARGV[a])
    set[2 * i] = ARGV[a + 1]
    a = a + 2
  end
  sets[tostring(k)] = set
end
-- Holds named per counter: a counter named by several is read with one HMGET.
local named = {}
for j = a, #ARGV, 4 do
  local key = ARGV[j + 1]
  if key ~= '' and string.byte(key, 1) ~= 33 then
    local set = sets[ARGV[j]]
    for i = 1, set.n do
      local k = set[2 * i - 1]
      local m = named[k]
      if m == nil then m = {} named[k] = m end
      m[#m + 1] = key
    end
  end
end
-- live[k][field]: the hold is a field of c (only for counters read with HMGET).
local live = {}
for k, m in pairs(named) do
  if #m > 1 then
    local v = redis.call('HMGET', KEYS[3 * k - 2], unpack(m))
    local l = {}
    for i = 1, #m do if v[i] then l[m[i]] = true end end
    live[k] = l
  end
end
-- Per counter k: hold fields to delete, r to take off and the running totals at which r may
-- reach 0, charges to add (amount, resetAt pairs), the x TTL to set.
local DEL, RD, RC, SC, XT = {}, {}, {}, {}, {}
local charged = 0
for j = a, #ARGV, 4 do
  local set, key, held, actual = sets[ARGV[j]], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  local record = string.byte(key, 1) == 33
  for i = 1, set.n do
    local k, resetAt = set[2 * i - 1], set[2 * i]
    local c, x = KEYS[3 * k - 2], KEYS[3 * k]
    local apply = key == '' or not set.retry
    if record then
      apply = first_record(x, key)
      if apply then XT[k] = lifetime(resetAt, now(), grace, idle, 60000) end
    elseif key ~= '' then
      local found
      local l = live[k]
      if l then
        found = l[key] == true
        if found then l[key] = false end
      else
        found = redis.call('HDEL', c, key) == 1
      end
      if found then
        if l then
          local d = DEL[k]
          if d == nil then d = {} DEL[k] = d end
          d[#d + 1] = key
        end
        if held ~= '0' then
          local rc = RC[k]
          if rc == nil then rc = {} RC[k] = rc end
          RD[k] = (RD[k] or 0) + tonumber(held)
          rc[#rc + 1] = RD[k]
        end
        apply = true
      elseif redis.call('ZREM', x, key) == 1 then
        apply = true
      end
    end
    if apply and actual ~= '0' then
      local sc = SC[k]
      if sc == nil then sc = {} SC[k] = sc end
      sc[#sc + 1] = tonumber(actual)
      sc[#sc + 1] = resetAt
      charged = charged + 1
    end
  end
end
for k, d in pairs(DEL) do
  redis.call('HDEL', KEYS[3 * k - 2], unpack(d))
end
for k, total in pairs(RD) do
  local c = KEYS[3 * k - 2]
  local r = redis.call('HINCRBY', c, 'r', int(-total)) + total
  -- The last hold gone: no sweep is due (a counter without e and with r 0 is not swept).
  for _, taken in ipairs(RC[k]) do
    if r - taken == 0 then
      redis.call('HDEL', c, 'e')
      break
    end
  end
end
for k, sc in pairs(SC) do
  local c = KEYS[3 * k - 2]
  local total = 0
  for i = 1, #sc, 2 do total = total + sc[i] end
  -- Spent before the batch: from the HINCRBY's answer, or read when the sum could leave the
  -- range a Lua number holds exactly.
  local s, raw
  if total <= MAX then
    raw = redis.call('HINCRBY', c, 's', int(total))
    s = raw - total
  else
    s = tonumber(redis.call('HGET', c, 's')) or 0
  end
  -- Item after item, as one call each: saturates like the other ledgers (MAX_COUNTER_NANOS =
  -- 2^52), so reads stay exact JS numbers; s == the charge: the counter was new (or expired) and
  -- needs its TTL; task counters restart theirs.
  local ttl
  for i = 1, #sc, 2 do
    s = s + sc[i]
    if sc[i + 1] == '-1' or s == sc[i] then ttl = lifetime(sc[i + 1], now(), grace, idle, 60000) end
    if s > MAX then s = MAX end
  end
  if s ~= raw then redis.call('HSET', c, 's', int(s)) end
  if ttl then redis.call('PEXPIRE', c, int(ttl)) end
end
for k, ttl in pairs(XT) do redis.call('PEXPIRE', KEYS[3 * k], int(ttl)) end
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
  local s, r = load(i, now, ARGV[2], ARGV[3], ARGV[4], ARGV[4 + i], 60000)
  out[2 * i - 1] = s
  out[2 * i] = r
end
return out
`,
);

export const SCRIPTS: readonly LuaScript[] = [RESERVE, SETTLE, RESERVE_BATCH, SETTLE_BATCH, READ];
