/**
 * Picks the ledger named by `TOLLGATE_LEDGER` (or the `ledger` option):
 * `memory` (default), `sqlite:<path>`, `redis://…` / `rediss://…`. The SQLite and
 * Redis implementations are imported only when asked for, so a process on the
 * memory ledger never loads `node:sqlite` or `ioredis`.
 */
import { ConfigError } from '../errors.ts';
import { MemoryLedger } from './memory.ts';
import type { Ledger } from './types.ts';
import type { RedisLedgerOptions } from './redis.ts';

export { MemoryLedger, type MemoryLedgerOptions } from './memory.ts';

/** The forms `TOLLGATE_LEDGER` accepts. */
export const LEDGER_SPEC_EXPECTED =
  '`memory`, `sqlite:<file path>`, a `redis://…` / `rediss://…` URL, `redis+cluster://host:port,…` (Redis Cluster) or `redis+sentinel://host:port,…/<master>` (Sentinel)';

/** Options of {@link createLedger}. */
export interface CreateLedgerOptions {
  /** Where the spec came from, named in a ConfigError. @default 'TOLLGATE_LEDGER' */
  readonly source?: string;
  /** Clock in epoch milliseconds, passed to the ledger (tests). @default Date.now */
  readonly now?: () => number;
  /** What a remote ledger does when unreachable (TOLLGATE_LEDGER_FAILURE). @default 'closed' */
  readonly failure?: 'closed' | 'open';
  /** Extra options for the Redis ledger (timeouts, TLS), passed through as given. */
  readonly redis?: Readonly<Partial<RedisLedgerOptions>>;
}

/** The parsed form of a ledger spec. */
export type LedgerSpec = { readonly kind: 'memory' } | { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'redis'; readonly url: string };

/**
 * Validates a ledger spec without opening anything (start-up config validation).
 * @throws ConfigError naming `source`, the value and the accepted forms.
 */
export function parseLedgerSpec(spec: string, source = 'TOLLGATE_LEDGER'): LedgerSpec {
  const s = typeof spec === 'string' ? spec.trim() : spec;
  if (s === 'memory') return { kind: 'memory' };
  if (typeof s === 'string' && s.startsWith('sqlite:')) {
    const path = s.slice('sqlite:'.length);
    if (path.length === 0) throw new ConfigError(source, spec, `${LEDGER_SPEC_EXPECTED} (sqlite: needs a file path)`);
    return { kind: 'sqlite', path };
  }
  if (typeof s === 'string' && /^rediss?(?:\+(?:cluster|sentinel))?:\/\//i.test(s)) return { kind: 'redis', url: s };
  throw new ConfigError(source, spec, LEDGER_SPEC_EXPECTED);
}

/**
 * Opens the ledger a spec names.
 * @throws ConfigError for a spec of no accepted form.
 */
export async function createLedger(spec: string, options: CreateLedgerOptions = {}): Promise<Ledger> {
  const parsed = parseLedgerSpec(spec, options.source ?? 'TOLLGATE_LEDGER');
  const clock = options.now === undefined ? {} : { now: options.now };
  switch (parsed.kind) {
    case 'memory':
      return new MemoryLedger(clock);
    case 'sqlite': {
      const { SqliteLedger } = await import('./sqlite.ts');
      return new SqliteLedger(parsed.path, { ...clock, source: options.source ?? 'TOLLGATE_LEDGER' });
    }
    case 'redis': {
      const { RedisLedger } = await import('./redis.ts');
      // Not RedisLedger.connect: the client connects in the background, so start-up never
      // waits on the network; the failure policy governs calls made while it is away.
      return new RedisLedger({
        ...options.redis,
        ...clock,
        url: parsed.url,
        source: options.source ?? 'TOLLGATE_LEDGER',
        ...(options.failure === undefined ? {} : { failure: options.failure }),
      });
    }
  }
}
