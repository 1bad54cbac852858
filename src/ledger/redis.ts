/**
 * The fleet ledger: every process of an agent reserves and settles against one
 * set of counters in Redis, so a daily cap holds for the agent, not per replica.
 *
 * - Reserve (all scopes at once) and settle are each one round trip, atomic. The reserves
 *   issued in the same tick for the same hash tag share ONE Lua script call, and so do the
 *   settles / releases / records (group commit: #queueReserve, #queueWrite; docs/ledgers.md,
 *   "Batching"); each item is processed as its own call would be, in order. Scripts
 *   are loaded once (SCRIPT LOAD on every connect) and called by SHA (EVALSHA); when the
 *   server's script cache was flushed or the server restarted, the call falls back to EVAL,
 *   which caches the script again.
 * - Keys are `<prefix>tollgate:{<agent>}:c|h|x:<counter key>`; the braces are a
 *   Redis Cluster hash tag, so all of one agent's counters live in one slot and a
 *   script may touch them together.
 * - Redis Cluster (`redis+cluster://`) and Sentinel (`redis+sentinel://`) through ioredis.
 *   On a cluster, a call charged to scopes of several hash tags (an agent and a shared
 *   config scope, `{scope:<name>}`) is reserved one slot at a time, in request order, and
 *   the slots already held are released when a later one has no room: every slot's check
 *   is atomic, so no cap is ever overshot; a refused call may hold a shared scope's room for
 *   one round trip. Settle / release write each slot separately, idempotently per hold.
 * - Window counters expire by themselves (PEXPIRE to resetAt + grace); task
 *   counters after `idleCounterTtlMillis` without writes. Holds are fields of the
 *   counter's hash carrying their expiry, swept lazily inside the scripts (redis-scripts.ts;
 *   layout in docs/ledgers.md), so the room held by a crashed process comes back after the
 *   hold's TTL.
 * - Time: by default the Redis server's TIME, read inside the scripts, so hosts
 *   with skewed clocks agree on when a hold expires. An injected `now` replaces it
 *   (tests with fake clocks); then every process sharing the ledger must use the
 *   same kind of clock.
 * - Failure policy. `closed` (default): when Redis does not answer, reserve rejects
 *   with LedgerUnavailableError within `commandTimeoutMillis`, so the call is not
 *   sent and no budget can be overspent. `open`: reserve answers a local
 *   reservation and the call goes on unchecked. In both modes settle / release /
 *   record never fail for an outage: the write is buffered in memory (bounded) and
 *   written when Redis is back. Reconnection is automatic.
 * - TLS (`rediss://`): the server certificate is always verified (chain and host
 *   name) against Node's trust store, which includes NODE_EXTRA_CA_CERTS, or
 *   against the `tls.ca` given; nothing here turns verification off.
 */
import { Cluster, Command, Redis } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import { diag } from '@opentelemetry/api';
import { ConfigError, LedgerUnavailableError } from '../errors.ts';
import { within, withTimeout } from '../internal/deadline.ts';
import { DAY_MILLIS } from '../internal/utc.ts';
import { READ, RESERVE, RESERVE_BATCH, SCRIPTS, SETTLE, SETTLE_BATCH, type LuaScript } from './redis-scripts.ts';
import { detachFromEventLoop } from './redis-lifecycle.ts';
import { parseRedisUrl, type RedisTarget } from './redis-url.ts';
import { boundedNanos, type BudgetScope, type Ledger, type Reservation, type ReserveRequest, type ReserveResult, type ScopeSpend } from './types.ts';
import { WriteBuffer, type BufferedWrite } from './write-buffer.ts';

/** Options of {@link RedisLedger}. */
export interface RedisLedgerOptions {
  /** `redis://[[user]:password@]host[:port][/db][?prefix=…]`, or `rediss://` for TLS. */
  readonly url: string;
  /** Prepended to every key; wins over the URL's `?prefix=`. @default '' */
  readonly keyPrefix?: string;
  /** What happens when Redis cannot be reached: `closed` blocks calls, `open` lets them go. @default 'closed' */
  readonly failure?: 'closed' | 'open';
  /** Longest a reserve (or read) waits for Redis, connection included, before failing. @default 1000 */
  readonly commandTimeoutMillis?: number;
  /** Longest a TCP (+TLS) connection attempt may take. @default 2000 */
  readonly connectTimeoutMillis?: number;
  /** Longest pause between reconnection attempts (they back off from 50 ms). @default 1000 */
  readonly reconnectMaxDelayMillis?: number;
  /** Clock in epoch ms. @default the Redis server's TIME (one clock for the whole fleet) */
  readonly now?: () => number;
  /** How long a window counter is kept after its window ends. @default 3_600_000 (1 h) */
  readonly windowGraceMillis?: number;
  /** How long a task counter (`resetAt: null`) is kept after its last write. @default 604_800_000 (7 days) */
  readonly idleCounterTtlMillis?: number;
  /** How long an expired hold is remembered, so a late settle charges it exactly once. @default one day */
  readonly expiredHoldRetentionMillis?: number;
  /** Most writes (settle / release / record) buffered while Redis is away; the oldest are dropped beyond it. @default 100_000 */
  readonly maxBufferedWrites?: number;
  /** How often buffered writes are retried while Redis is away. @default 500 */
  readonly retryIntervalMillis?: number;
  /** Longest close() waits for Redis to come back when writes are still buffered. @default 3000 */
  readonly closeTimeoutMillis?: number;
  /**
   * TLS options for a `rediss://` URL (node:tls `ConnectionOptions`), merged over the
   * URL's defaults (`servername` = the URL's host when it is a name, not an IP).
   * Typical: `{ ca: readFileSync('/etc/redis/ca.pem') }` to trust a private CA, or
   * `cert` / `key` for client certificates. Note that `ca` REPLACES Node's trust store
   * (public roots and NODE_EXTRA_CA_CERTS); to add to it instead, either set
   * NODE_EXTRA_CA_CERTS=/path/ca.pem in the environment of the process (read by
   * Node at start-up; no code needed) or pass `ca: [...tls.getCACertificates('default'), pem]`.
   * The certificate is verified unless `rejectUnauthorized: false` is given here
   * (which logs a warning). Ignored, with a warning, for a `redis://` URL: the scheme decides.
   * @default none: Node's trust store, host name checked
   */
  readonly tls?: ConnectionOptions;
  /** Where the URL came from, named in a ConfigError. @default 'RedisLedger url' */
  readonly source?: string;
}

/** A settle / release / record waiting to be written (or being written). */
interface Write extends BufferedWrite {
  /** The scopes it writes to (all in one slot on a cluster). */
  readonly scopes: readonly BudgetScope[];
  /** The hold's id, or a record's (RECORD_ID_MARK first). */
  readonly id: string;
  /** The hold's amount, nano-USD as a string ('0' for a record). */
  readonly held: string;
}

/** A reserve waiting in a batch for its answer. */
interface ReserveItem {
  /** ARGV[1] of its batch: the injected clock when it was issued, or '' (the server's TIME). */
  readonly now: string;
  readonly scopes: readonly BudgetScope[];
  readonly amountNanos: number;
  readonly amount: string;
  /** ceil(ttlMillis), as sent. */
  readonly ttl: string;
  readonly id: string;
  readonly resolve: (r: ReserveResult) => void;
  readonly reject: (err: unknown) => void;
}

/** A write waiting in a batch for its answer. */
interface WriteItem {
  readonly w: Write;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Most items in one batch (one script call); a fuller batch is sent at once and a new one begun.
 * Bounds how long one script holds Redis and keeps the scripts' `unpack` of a counter's fields
 * (2 per item) far below Lua's C stack limit.
 */
const MAX_BATCH = 256;

/**
 * KEYS and the sets of one batch's ARGV (layout in redis-scripts.ts): each counter's keys once, and
 * one set per scopes array and variant (a reserve's TTL, a write's retry flag) its items share.
 */
class BatchArgs {
  readonly #prefix: string;
  /** KEYS, then ARGV once `args` is called. */
  readonly #out: string[] = [];
  readonly #sets: string[] = [];
  #count = 0;
  readonly #counters = new Map<string, number>();
  readonly #setOf = new Map<readonly BudgetScope[], { variant: string; index: string }>();
  readonly #bySig = new Map<string, { variant: string; index: string }>();

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** The index (1-based, as sent) of the set of `scopes` and `variant`; a new set lists its scopes' counters, limits when `limits`, and resetAt. */
  set(scopes: readonly BudgetScope[], variant: string, limits: boolean): string {
    // The policy passes the same array for an agent's calls (and a reservation keeps it), so the
    // array is looked up first; an equal list in another array (a task's scopes, a cluster's
    // per-slot group) is found by its content.
    let set = this.#setOf.get(scopes);
    if (set !== undefined && set.variant === variant) return set.index;
    // Length-prefixed names: no two different lists give the same signature.
    let sig = variant;
    for (const sc of scopes) sig += `|${sc.agent.length}:${sc.agent}${sc.key.length}:${sc.key}${limits ? sc.limitNanos : ''}|${sc.resetAt}`;
    set = this.#bySig.get(sig);
    if (set !== undefined) {
      this.#setOf.set(scopes, set);
      return set.index;
    }
    set = { variant, index: String(++this.#count) };
    this.#setOf.set(scopes, set);
    this.#bySig.set(sig, set);
    const sets = this.#sets;
    sets.push(variant, String(scopes.length));
    for (const sc of scopes) {
      const base = `${this.#prefix}tollgate:{${agentTag(sc.agent)}}:`;
      const c = base + 'c:' + sc.key;
      let k = this.#counters.get(c);
      if (k === undefined) {
        k = this.#counters.size + 1;
        this.#counters.set(c, k);
        this.#out.push(c, base + 'h:' + sc.key, base + 'x:' + sc.key);
      }
      sets.push(String(k));
      if (limits) sets.push(sc.limitNanos === null ? '-1' : String(sc.limitNanos));
      sets.push(sc.resetAt === null ? '-1' : String(sc.resetAt));
    }
    return set.index;
  }

  get numKeys(): number {
    return this.#counters.size * 3;
  }

  /** KEYS, then ARGV: `head`, the number of sets, the sets, `items`. */
  args(head: readonly string[], items: readonly string[]): string[] {
    const out = this.#out;
    for (const x of head) out.push(x);
    out.push(String(this.#count));
    for (const x of this.#sets) out.push(x);
    for (const x of items) out.push(x);
    return out;
  }
}

/**
 * Items gathered per hash tag until the flush `schedule` runs (or a batch is full), then sent one
 * batch per tag (docs/ledgers.md, "Batching").
 */
class Batches<T> {
  #open = new Map<string, T[]>();
  readonly #schedule: (flush: () => void) => void;
  readonly #send: (items: T[]) => void;
  /** Runs the sends of one flush; told how many batches it sends. */
  readonly #around: (batches: number, sendAll: () => void) => void;

  constructor(schedule: (flush: () => void) => void, send: (items: T[]) => void, around: (batches: number, sendAll: () => void) => void) {
    this.#schedule = schedule;
    this.#send = send;
    this.#around = around;
  }

  /** Adds `item` to the batch of `tag`; when `joins(first item)` is false, the open batch is sent first. */
  add(tag: string, item: T, joins?: (first: T) => boolean): void {
    let items = this.#open.get(tag);
    if (items !== undefined && joins !== undefined && !joins(items[0]!)) {
      this.#open.delete(tag);
      this.#send(items);
      items = undefined;
    }
    if (items === undefined) {
      if (this.#open.size === 0) this.#schedule(this.#flush);
      items = [];
      this.#open.set(tag, items);
    }
    items.push(item);
    if (items.length >= MAX_BATCH) {
      this.#open.delete(tag);
      this.#send(items);
    }
  }

  readonly #flush = (): void => {
    const open = this.#open;
    if (open.size === 0) return;
    this.#open = new Map();
    this.#around(open.size, () => {
      for (const items of open.values()) this.#send(items);
    });
  };
}

const LOCAL_ID_MARK = '~';
/** First character of a record's id (see SETTLE in redis-scripts.ts). */
const RECORD_ID_MARK = '!';

/**
 * A hold's field name in its counter hash: `<id>|<amount in nanos>`. The batch scripts get it
 * ready-made; RESERVE and SETTLE build the same name in Lua (redis-scripts.ts), and the sweep
 * reads the amount back from it.
 */
function holdField(id: string, amountNanos: string): string {
  return id + '|' + amountNanos;
}
const NOT_SENT_MESSAGES = ["Stream isn't writeable", 'Connection is closed', 'tollgate:not-sent'];

/**
 * {@link Ledger} in Redis, shared by every process that points at the same server,
 * database and key prefix. Create it at start-up; {@link RedisLedger.connect} also
 * waits for the first connection and fails with a clear error if it cannot be made.
 */
export class RedisLedger implements Ledger {
  readonly description: string;
  readonly #client: Redis | Cluster;
  /** Scopes of different hash tags go to different slots (a cluster): see the module comment. */
  readonly #cluster: boolean;
  readonly #tls: boolean;
  readonly #prefix: string;
  readonly #failure: 'closed' | 'open';
  readonly #timeout: number;
  readonly #now: (() => number) | undefined;
  readonly #grace: string;
  readonly #idle: string;
  readonly #keep: string;
  readonly #closeWait: number;
  readonly #idPrefix = randomBytes(9).toString('base64url') + '.';
  #seq = 0;
  readonly #buffer: WriteBuffer<Write>;
  /** Reserves waiting for the next flush (see #queueReserve). */
  readonly #reserves = new Batches<ReserveItem>(setImmediate, (items) => this.#sendReserves(items), (n, sendAll) => this.#corked(n, sendAll));
  /** Writes waiting for the next flush (see #queueWrite). */
  readonly #writes = new Batches<WriteItem>(queueMicrotask, (items) => this.#sendWrites(items), (n, sendAll) => this.#corked(n, sendAll));
  readonly #inflight = new Set<Promise<void>>();
  #lastError: Error | undefined;
  #readyWaiters = new Set<() => void>();
  #warnedDown = false;
  #closed = false;

  constructor(options: RedisLedgerOptions) {
    const target: RedisTarget = parseRedisUrl(options.url, options.source ?? 'RedisLedger url');
    const prefix = options.keyPrefix ?? target.keyPrefix;
    const failure = options.failure ?? 'closed';
    if (failure !== 'closed' && failure !== 'open') {
      throw new ConfigError('RedisLedger failure', failure, "'closed' or 'open'");
    }
    this.#prefix = prefix;
    this.#failure = failure;
    this.#timeout = positive('commandTimeoutMillis', options.commandTimeoutMillis, 1000);
    const connectTimeout = positive('connectTimeoutMillis', options.connectTimeoutMillis, 2000);
    const maxDelay = positive('reconnectMaxDelayMillis', options.reconnectMaxDelayMillis, 1000);
    this.#now = options.now;
    this.#grace = String(positive('windowGraceMillis', options.windowGraceMillis, 3_600_000));
    this.#idle = String(positive('idleCounterTtlMillis', options.idleCounterTtlMillis, 604_800_000));
    this.#keep = String(positive('expiredHoldRetentionMillis', options.expiredHoldRetentionMillis, DAY_MILLIS));
    const maxBuffered = positive('maxBufferedWrites', options.maxBufferedWrites, 100_000);
    const retryInterval = positive('retryIntervalMillis', options.retryIntervalMillis, 500);
    this.#closeWait = positive('closeTimeoutMillis', options.closeTimeoutMillis, 3000);
    this.description = target.description;
    this.#tls = target.tls;
    const tls = tlsOptions(target, options.tls);

    const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 10), maxDelay);
    const node = {
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
      ...(tls === undefined ? {} : { tls }),
      connectionName: 'tollgate-ledger',
      connectTimeout,
      commandTimeout: this.#timeout,
      // Fail fast instead of queueing while disconnected: a queued command would be
      // sent after its caller gave up (a ghost hold or a second settle). Waiting
      // for the connection is done here, bounded by commandTimeoutMillis.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // Connected below, once its sockets are kept from holding the process open.
      lazyConnect: true,
      // How long disconnect() lets a socket close gracefully before destroying it; ioredis's
      // 2 s timer is ref'd and kept a process whose Redis was down alive for 2 s at exit.
      disconnectTimeout: 200,
    };
    this.#cluster = target.mode === 'cluster';
    if (target.mode === 'cluster') {
      this.#client = new Cluster(target.nodes.map((n) => ({ host: n.host, port: n.port })), {
        redisOptions: node,
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        scaleReads: 'master',
        clusterRetryStrategy: retryStrategy,
        // A reply of MOVED / ASK is followed (slots migrate); a node that is down is not waited for.
        maxRedirections: 16,
        lazyConnect: true,
      });
    } else {
      this.#client = new Redis({
        ...node,
        db: target.db,
        ...(target.mode === 'sentinel'
          ? { sentinels: target.nodes.map((n) => ({ host: n.host, port: n.port })), name: target.masterName!, sentinelRetryStrategy: retryStrategy, enableTLSForSentinelMode: target.tls }
          : { host: target.host, port: target.port }),
        retryStrategy,
        enableAutoPipelining: true,
      });
    }
    this.#buffer = new WriteBuffer<Write>({
      description: this.description,
      maxWrites: maxBuffered,
      retryMillis: retryInterval,
      ready: () => this.#client.status === 'ready',
      send: (w) => this.#send(w),
      transient: isTransient,
      mayHaveLanded: (err) => !wasNotSent(err),
    });
    // An idle connection must not keep the user's process alive (see redis-lifecycle.ts).
    detachFromEventLoop(this.#client);
    this.#client.connect().catch(() => {}); // failures surface through 'error' and the calls' timeouts
    this.#client.on('error', (err: Error) => {
      this.#lastError = err;
    });
    this.#client.on('ready', () => this.#onReady());
  }

  /**
   * Creates a ledger and waits for its first connection: fails at the first
   * connection error, or after `connectTimeoutMillis` + `commandTimeoutMillis`.
   * @throws ConfigError for a bad URL or option; LedgerUnavailableError naming the ledger
   *   (never the password) when the server cannot be reached or refuses the credentials.
   */
  static async connect(options: RedisLedgerOptions): Promise<RedisLedger> {
    const ledger = new RedisLedger(options);
    const budget = (options.connectTimeoutMillis ?? 2000) + ledger.#timeout;
    try {
      await ledger.#waitReady(Date.now() + budget, true);
    } catch (err) {
      const error = ledger.#unavailable(err);
      await ledger.close();
      throw error;
    }
    return ledger;
  }

  /** Writes still buffered because Redis was away (0 in normal operation). */
  get pendingWrites(): number {
    return this.#buffer.size;
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const { scopes, ttlMillis } = request;
    const amountNanos = boundedNanos(request.amountNanos);
    if (!(ttlMillis > 0) || !Number.isFinite(ttlMillis)) throw new RangeError(`tollgate: ttlMillis must be > 0, got ${ttlMillis}`);
    const id = this.#idPrefix + (++this.#seq).toString(36);
    const groups = this.#slots(scopes);
    if (groups === undefined) return this.#reserveIn(scopes, amountNanos, ttlMillis, id);
    // Several slots (a cluster): one at a time; give back what was held when one has no room.
    const remaining = new Array<number | null>(scopes.length);
    let expiresAt = 0;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const r = await this.#reserveIn(group.scopes, amountNanos, ttlMillis, id);
      if (!r.ok || r.unchecked === true) {
        for (let k = 0; k < g; k++) void this.#write(this.#settleWrite(groups[k]!.scopes, id, String(amountNanos), 0, false));
        if (!r.ok) return r;
        return { ...r, reservation: { ...r.reservation, scopes }, remainingNanos: scopes.map(() => null) };
      }
      group.index.forEach((at, i) => (remaining[at] = r.remainingNanos[i]!));
      expiresAt = r.reservation.expiresAt;
    }
    return { ok: true, reservation: { id, scopes, amountNanos, expiresAt }, remainingNanos: remaining };
  }

  /** Reserves on scopes that share one slot (one item of a RESERVE batch). */
  async #reserveIn(scopes: readonly BudgetScope[], amountNanos: number, ttlMillis: number, id: string): Promise<ReserveResult> {
    const amount = String(amountNanos);
    try {
      return await this.#queueReserve(scopes, amountNanos, amount, String(Math.ceil(ttlMillis)), id);
    } catch (err) {
      if (!wasNotSent(err) && isTransient(err)) {
        // The script may have run with the reply lost: release that hold once Redis answers.
        this.#buffer.add(this.#settleWrite(scopes, id, amount, 0, true));
      }
      if (this.#failure === 'open' && isTransient(err)) {
        this.#warnDown(wasNotSent(err) ? (this.#lastError ?? err) : err);
        const reservation: Reservation = {
          id: LOCAL_ID_MARK + id,
          scopes,
          amountNanos,
          expiresAt: (this.#now ?? Date.now)() + Math.ceil(ttlMillis),
        };
        return { ok: true, reservation, remainingNanos: scopes.map(() => null), unchecked: true };
      }
      throw this.#unavailable(err);
    }
  }

  /**
   * Group commit (docs/ledgers.md, "Batching"): the reserve joins the batch of its hash tag, sent
   * as one RESERVE call at the end of this turn of the event loop (setImmediate: the round
   * ioredis's auto-pipeline sent each reserve in before batching), or at once when full. The
   * script takes the items in order, each against the counters as the items before it left them.
   */
  #queueReserve(scopes: readonly BudgetScope[], amountNanos: number, amount: string, ttl: string, id: string): Promise<ReserveResult> {
    const now = this.#now === undefined ? '' : String(this.#now());
    return new Promise<ReserveResult>((resolve, reject) => {
      // An injected clock that moved within the tick starts a new batch: each item keeps its time.
      this.#reserves.add(scopes[0]?.agent ?? '', { now, scopes, amountNanos, amount, ttl, id, resolve, reject }, (first) => first.now === now);
    });
  }

  /**
   * One script call for the batch: RESERVE_BATCH, or RESERVE for a lone item (a batch of one costs
   * what a reserve always cost); ARGV layouts in redis-scripts.ts. Both answer item after item in
   * the same form.
   */
  #sendReserves(items: ReserveItem[]): void {
    let sent: Promise<unknown>;
    if (items.length === 1) {
      const it = items[0]!;
      const n = it.scopes.length;
      const args = new Array<string>(n * 5 + 7);
      this.#keys(it.scopes, args);
      let a = n * 3;
      args[a++] = it.now;
      args[a++] = it.ttl;
      args[a++] = it.amount;
      args[a++] = it.id;
      args[a++] = this.#grace;
      args[a++] = this.#idle;
      args[a++] = this.#keep;
      for (const sc of it.scopes) {
        args[a++] = sc.limitNanos === null ? '-1' : String(sc.limitNanos);
        args[a++] = sc.resetAt === null ? '-1' : String(sc.resetAt);
      }
      sent = this.#run(RESERVE, n * 3, args);
    } else {
      const b = new BatchArgs(this.#prefix);
      const itemArgs = new Array<string>(items.length * 3);
      let a = 0;
      for (const it of items) {
        itemArgs[a++] = b.set(it.scopes, it.ttl, true);
        itemArgs[a++] = it.amount;
        itemArgs[a++] = holdField(it.id, it.amount);
      }
      sent = this.#run(RESERVE_BATCH, b.numKeys, b.args([items[0]!.now, this.#grace, this.#idle, this.#keep], itemArgs));
    }
    sent.then(
      (reply) => {
        const r = reply as number[];
        let o = 0;
        for (const it of items) {
          const n = it.scopes.length;
          if (r[o] === 1) {
            const remaining = new Array<number | null>(n);
            for (let i = 0; i < n; i++) {
              const v = r[o + 2 + i]!;
              remaining[i] = v < 0 ? null : v;
            }
            it.resolve({ ok: true, reservation: { id: it.id, scopes: it.scopes, amountNanos: it.amountNanos, expiresAt: r[o + 1]! }, remainingNanos: remaining });
            o += 2 + n;
          } else {
            it.resolve({ ok: false, scope: it.scopes[r[o + 1]! - 1]!, spentNanos: r[o + 2]!, reservedNanos: r[o + 3]! });
            o += 4;
          }
        }
      },
      // Each item fails as a call of its own would have (the caller buffers a release, or answers open).
      (err: unknown) => {
        for (const it of items) it.reject(err);
      },
    );
  }

  settle(reservation: Reservation, actualNanos: number): Promise<void> {
    actualNanos = boundedNanos(actualNanos);
    const local = reservation.id.startsWith(LOCAL_ID_MARK);
    // A local reservation (open mode, Redis was away) never held anything in Redis: its cost is recorded.
    return this.#writeEach(reservation.scopes, local ? this.#recordId() : reservation.id, local ? '0' : String(reservation.amountNanos), actualNanos);
  }

  release(reservation: Reservation): Promise<void> {
    if (reservation.id.startsWith(LOCAL_ID_MARK)) return Promise.resolve();
    return this.#writeEach(reservation.scopes, reservation.id, String(reservation.amountNanos), 0);
  }

  record(scopes: readonly BudgetScope[], amountNanos: number): Promise<void> {
    return this.#writeEach(scopes, this.#recordId(), '0', boundedNanos(amountNanos));
  }

  /**
   * A record's own id (RECORD_ID_MARK first): SETTLE applies a record once per id, so a record
   * whose first attempt landed while its reply was lost is not counted again when the write
   * buffer retries it.
   */
  #recordId(): string {
    return `${RECORD_ID_MARK}${this.#idPrefix}${String(this.#seq++)}`;
  }

  /** One SETTLE per slot the scopes span (one in all but a cluster with shared scopes). */
  #writeEach(scopes: readonly BudgetScope[], id: string, held: string, actualNanos: number): Promise<void> {
    const groups = this.#slots(scopes);
    if (groups === undefined) return this.#write(this.#settleWrite(scopes, id, held, actualNanos, false));
    return Promise.all(groups.map((g) => this.#write(this.#settleWrite(g.scopes, id, held, actualNanos, false)))).then(() => {});
  }

  /** On a cluster, the scopes grouped by hash tag (request order kept), when there is more than one; else undefined. */
  #slots(scopes: readonly BudgetScope[]): { scopes: BudgetScope[]; index: number[] }[] | undefined {
    if (!this.#cluster || scopes.length < 2) return undefined;
    const byTag = new Map<string, { scopes: BudgetScope[]; index: number[] }>();
    scopes.forEach((s, i) => {
      let g = byTag.get(s.agent);
      if (g === undefined) byTag.set(s.agent, (g = { scopes: [], index: [] }));
      g.scopes.push(s);
      g.index.push(i);
    });
    return byTag.size > 1 ? [...byTag.values()] : undefined;
  }

  async spent(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]> {
    const groups = this.#slots(scopes);
    if (groups !== undefined) {
      const out = new Array<ScopeSpend>(scopes.length);
      const parts = await Promise.all(groups.map((g) => this.#spentIn(g.scopes)));
      groups.forEach((g, k) => g.index.forEach((at, i) => (out[at] = parts[k]![i]!)));
      return out;
    }
    return this.#spentIn(scopes);
  }

  async #spentIn(scopes: readonly BudgetScope[]): Promise<ScopeSpend[]> {
    const n = scopes.length;
    const args = new Array<string>(n * 4 + 4);
    this.#keys(scopes, args);
    let a = n * 3;
    args[a++] = this.#now === undefined ? '' : String(this.#now());
    args[a++] = this.#keep;
    args[a++] = this.#grace;
    args[a++] = this.#idle;
    for (const s of scopes) args[a++] = s.resetAt === null ? '-1' : String(s.resetAt);
    let reply: number[];
    try {
      reply = (await this.#call(READ, n * 3, args)) as number[];
    } catch (err) {
      throw this.#unavailable(err);
    }
    const out = new Array<ScopeSpend>(n);
    for (let i = 0; i < n; i++) out[i] = { spentNanos: Number(reply[2 * i]), reservedNanos: Number(reply[2 * i + 1]) };
    return out;
  }

  /**
   * Writes buffered settles / releases / records now. Resolves with the number still
   * buffered (0 once Redis took them all; more when it is still away).
   */
  flush(): Promise<number> {
    return this.#buffer.flush();
  }

  /** Writes what is buffered (if Redis answers) and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#inflight.size > 0) await Promise.allSettled(this.#inflight);
    if (this.#buffer.size > 0 && this.#client.status !== 'ready') {
      // Give a reconnection in progress a chance to take the buffered spend.
      await this.#waitReady(Date.now() + this.#closeWait, false).catch(() => {});
    }
    if (this.#buffer.size > 0 && this.#client.status === 'ready') await this.flush();
    // A flush started by the reconnection has already taken the writes out of the buffer.
    await this.#buffer.settled();
    this.#buffer.close();
    for (const wake of this.#readyWaiters) wake();
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  /** Fills args[0 .. 3n) with the c / h / x keys of each scope. */
  #keys(scopes: readonly BudgetScope[], args: string[]): void {
    for (let i = 0; i < scopes.length; i++) {
      const s = scopes[i]!;
      const base = `${this.#prefix}tollgate:{${agentTag(s.agent)}}:`;
      args[3 * i] = base + 'c:' + s.key;
      args[3 * i + 1] = base + 'h:' + s.key;
      args[3 * i + 2] = base + 'x:' + s.key;
    }
  }

  #settleWrite(scopes: readonly BudgetScope[], id: string, held: string, actualNanos: number, retry: boolean): Write {
    // A hold split over slots has one write per slot: each is its own entry in the buffer.
    return { scopes, id, held, actualNanos, holdId: id === '' ? '' : `${id}@${scopes[0]?.agent ?? ''}`, retry };
  }

  #write(w: Write): Promise<void> {
    // During a known outage, queue at once rather than wait out the timeout per write.
    if (this.#closed || (this.#client.status !== 'ready' && this.#buffer.size > 0)) {
      this.#buffer.add(w);
      if (!this.#warnedDown) this.#warnDown(this.#lastError);
      return Promise.resolve();
    }
    // Tracked so close() waits for writes callers did not await (the policy settles fire-and-forget).
    const p = this.#writeNow(w).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
    return p;
  }

  async #writeNow(w: Write): Promise<void> {
    try {
      await this.#queueWrite(w);
    } catch (err) {
      this.#buffer.failed(w, err);
      if (!this.#warnedDown) this.#warnDown(this.#lastError ?? err);
    }
  }

  #send(w: Write): Promise<unknown> {
    return this.#queueWrite(w);
  }

  /**
   * Group commit (docs/ledgers.md, "Batching"): the write joins the batch of its hash tag, sent as
   * one SETTLE call from a microtask queued by the batch's first write, or at once when full. That
   * microtask runs before the continuation of any caller that issued a write of the batch, so a
   * settle issued before the call's promise resolves is on the wire even when the caller's
   * continuation calls process.exit() (issue #17, defect 8).
   */
  #queueWrite(w: Write): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#writes.add(w.scopes[0]?.agent ?? '', { w, resolve, reject }));
  }

  /** One script call for the batch: SETTLE_BATCH, or SETTLE for a lone write (ARGV layouts in redis-scripts.ts). */
  #sendWrites(items: WriteItem[]): void {
    const now = this.#now === undefined ? '' : String(this.#now());
    let sent: Promise<unknown>;
    if (items.length === 1) {
      const { w } = items[0]!;
      const n = w.scopes.length;
      const args = new Array<string>(n * 4 + 7);
      this.#keys(w.scopes, args);
      let a = n * 3;
      args[a++] = now;
      args[a++] = w.id;
      args[a++] = w.held;
      args[a++] = String(w.actualNanos);
      args[a++] = w.retry ? '1' : '0';
      args[a++] = this.#grace;
      args[a++] = this.#idle;
      for (const sc of w.scopes) args[a++] = sc.resetAt === null ? '-1' : String(sc.resetAt);
      sent = this.#run(SETTLE, n * 3, args);
    } else {
      const b = new BatchArgs(this.#prefix);
      const itemArgs = new Array<string>(items.length * 4);
      let a = 0;
      for (const { w } of items) {
        itemArgs[a++] = b.set(w.scopes, w.retry ? '1' : '0', false);
        // A hold's field name, or a record's id ('' and a record's id are never hold fields).
        itemArgs[a++] = w.id === '' || w.id.startsWith(RECORD_ID_MARK) ? w.id : holdField(w.id, w.held);
        itemArgs[a++] = w.held;
        itemArgs[a++] = String(w.actualNanos);
      }
      sent = this.#run(SETTLE_BATCH, b.numKeys, b.args([now, this.#grace, this.#idle], itemArgs));
    }
    sent.then(
      () => {
        for (const it of items) it.resolve();
      },
      // Each write fails as one of its own would have (the caller buffers it, retried where it may have landed).
      (err: unknown) => {
        for (const it of items) it.reject(err);
      },
    );
  }

  /** Runs `fn`, which sends `batches` commands, with the socket corked when there are several: one write to the socket. */
  #corked(batches: number, fn: () => void): void {
    const stream = batches > 1 && this.#client instanceof Redis ? (this.#client as unknown as { stream?: Socket }).stream : undefined;
    stream?.cork();
    try {
      fn();
    } finally {
      stream?.uncork();
    }
  }

  /** Sends a script call now when connected, else waits for the connection (within commandTimeoutMillis). */
  #run(s: LuaScript, numKeys: number, args: string[]): Promise<unknown> {
    return this.#client.status === 'ready' ? this.#evalNow(s, numKeys, args) : this.#call(s, numKeys, args);
  }

  /** Runs a script, waiting for the connection first if needed, all within commandTimeoutMillis. */
  async #call(s: LuaScript, numKeys: number, args: string[]): Promise<unknown> {
    if (this.#client.status === 'ready') return this.#eval(s, numKeys, args);
    const deadline = Date.now() + this.#timeout;
    await this.#waitReady(deadline, false);
    return withDeadline(this.#eval(s, numKeys, args), deadline);
  }

  /**
   * EVALSHA written to the socket now, not at the next auto-pipeline round (a setImmediate away):
   * a batch's items were already gathered (see #queueWrite for why writes cannot wait).
   */
  async #evalNow(s: LuaScript, numKeys: number, args: string[]): Promise<unknown> {
    const cmd = new Command('evalsha', [s.sha, numKeys, args], { replyEncoding: 'utf8' });
    void this.#client.sendCommand(cmd);
    try {
      return await cmd.promise;
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return this.#client.eval(s.lua, numKeys, ...args);
      throw err;
    }
  }

  async #eval(s: LuaScript, numKeys: number, args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(s.sha, numKeys, ...args);
    } catch (err) {
      // The script cache was flushed (SCRIPT FLUSH, server restart, failover): EVAL runs and re-caches it.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return this.#client.eval(s.lua, numKeys, ...args);
      throw err;
    }
  }

  #onReady(): void {
    for (const s of SCRIPTS) {
      this.#client.script('LOAD', s.lua).catch((err: unknown) => {
        diag.debug(`tollgate: ledger ${this.description} SCRIPT LOAD ${s.name} failed (EVAL fallback covers it)`, err);
      });
    }
    for (const wake of this.#readyWaiters) wake();
    if (this.#warnedDown) {
      diag.info(`tollgate: ledger ${this.description} reachable again; writing ${this.#buffer.size} buffered writes`);
      this.#warnedDown = false;
    }
    if (this.#buffer.size > 0) void this.flush();
  }

  /** Resolves when the client is ready; rejects (not-sent) at the deadline, or at the first connection error when `failFast`. */
  async #waitReady(deadline: number, failFast: boolean): Promise<void> {
    const ready = (): boolean => this.#client.status === 'ready';
    if (ready()) return;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = () => resolve()));
    this.#readyWaiters.add(wake);
    // Only connect() fails at the first error; calls waiting for the connection add no listener each.
    if (failFast) this.#client.on('error', wake);
    try {
      // Ref'd: the connection's socket is not (redis-lifecycle.ts), so this bounded wait is what
      // keeps the process alive while a caller (or close) waits for Redis.
      await within(woken, deadline - Date.now(), { ref: true });
    } finally {
      this.#readyWaiters.delete(wake);
      if (failFast) this.#client.off('error', wake);
    }
    if (!ready()) throw notSent(this.#closed ? 'ledger closed' : undefined);
  }

  #warnDown(err: unknown): void {
    if (this.#warnedDown) return;
    this.#warnedDown = true;
    const message =
      `tollgate: ledger ${this.description} unreachable (${reason(err ?? this.#lastError, this.#timeout, this.#tls)}); ` +
      (this.#failure === 'open'
        ? 'failure=open: calls go on unchecked, spend is buffered until it is back'
        : 'failure=closed: calls are blocked, settled spend is buffered until it is back');
    diag.warn(message);
    // Unchecked calls are a budget silently not enforced: say so on stderr even with no diag logger set.
    if (this.#failure === 'open') process.emitWarning(message, { type: 'TollgateWarning', code: 'TOLLGATE_LEDGER_UNREACHABLE' });
  }

  #unavailable(err: unknown): LedgerUnavailableError {
    if (err instanceof LedgerUnavailableError) return err;
    const cause = err instanceof Error && err.message.startsWith('tollgate:not-sent') ? (this.#lastError ?? err) : err;
    return new LedgerUnavailableError(this.description, reason(cause, this.#timeout, this.#tls), { cause });
  }
}

/**
 * The ioredis `tls` option for a target: undefined for `redis://`, else the URL's
 * defaults with the caller's options over them (a new object; the caller's is not touched).
 */
function tlsOptions(target: RedisTarget, given: ConnectionOptions | undefined): ConnectionOptions | undefined {
  if (!target.tls) {
    // The URL's scheme decides (so one code path serves a rediss:// prod and a redis:// dev Redis).
    if (given !== undefined) diag.warn(`tollgate: ledger ${target.description}: tls options ignored, the URL is not rediss://`);
    return undefined;
  }
  // SNI carries host names only (RFC 6066; Node warns DEP0123 for an IP). Without it,
  // Node still checks the certificate against the host connected to.
  const defaults: ConnectionOptions = isIP(target.host) === 0 ? { servername: target.host } : {};
  if (given?.rejectUnauthorized === false) {
    diag.warn(`tollgate: ledger ${target.description}: tls.rejectUnauthorized=false, the server's certificate is NOT verified`);
  }
  return { ...defaults, ...given };
}

/** The agent as it appears inside the key's hash tag: `{`, `}`, `:` and `%` percent-encoded, so the tag is always the whole agent. */
function agentTag(agent: string): string {
  if (agent.length === 0) return '%';
  return /[%{}:]/.test(agent) ? agent.replace(/[%{}:]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : agent;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`RedisLedger ${name}`, value, 'a positive number of milliseconds / items');
  }
  return value;
}

function notSent(detail?: string): Error {
  return new Error(`tollgate:not-sent${detail === undefined ? '' : `: ${detail}`}`);
}

/** The command never left this process (so it cannot have run). */
function wasNotSent(err: unknown): boolean {
  return err instanceof Error && NOT_SENT_MESSAGES.some((m) => err.message.startsWith(m));
}

/** Worth retrying: the connection failed, not Redis refusing the command. */
function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  if (err.name !== 'ReplyError') return true;
  return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|NOAUTH|WRONGPASS|NOSCRIPT)/.test(err.message);
}

function isAuthError(err: Error): boolean {
  return /WRONGPASS|NOAUTH|invalid password|invalid username-password|NOPERM/i.test(err.message);
}

/** Node / OpenSSL codes of a server certificate that failed verification. */
const UNTRUSTED_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
]);

/** A short, credential-free explanation of why Redis could not be used; `tls`: the URL is rediss://. */
function reason(err: unknown, timeoutMillis: number, tls: boolean): string {
  if (!(err instanceof Error)) return 'no connection yet';
  const e = err as Error & { code?: string; address?: string; port?: number };
  if (isAuthError(e)) return `authentication failed (${e.message.split('\n')[0]}); check the password / user in the URL`;
  if (e.code !== undefined && UNTRUSTED_CERT.has(e.code)) {
    return `TLS certificate of the server not trusted (${e.message}, ${e.code}); give its CA in the tls.ca option or in NODE_EXTRA_CA_CERTS`;
  }
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS certificate does not match the host (${e.message})`;
  if (e.code?.startsWith('ERR_SSL_') === true) return `TLS handshake failed (${e.message})`;
  if (e.code === 'ECONNREFUSED') return `connection refused${e.address === undefined ? '' : ` at ${e.address}:${e.port}`}`;
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return `host not found (${e.message})`;
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
    return `connection reset by the server${tls ? '' : ' (if that port expects TLS, use a rediss:// URL)'}`;
  }
  if (e.code === 'ETIMEDOUT' || e.message === 'connect ETIMEDOUT') {
    return `connect timed out${tls ? ' (TCP + TLS handshake; if that port does not speak TLS, use a redis:// URL)' : ''}`;
  }
  if (e.message === 'Command timed out') return `no answer within ${timeoutMillis} ms`;
  if (e.message.startsWith('tollgate:not-sent')) return `not connected within ${timeoutMillis} ms`;
  return e.message;
}

function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  return withTimeout(p, deadline - Date.now(), () => new Error('Command timed out'));
}
