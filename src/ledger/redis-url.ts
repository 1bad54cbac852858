/**
 * Parsing of `redis://` / `rediss://` ledger URLs (TOLLGATE_LEDGER). Done once at
 * start-up so a bad URL fails there with a ConfigError, never inside a call.
 */
import { ConfigError } from '../errors.ts';

/** Where and how to reach the Redis that holds the ledger. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  /** ACL user name (Redis 6+); absent for the `default` user. */
  readonly username?: string;
  readonly password?: string;
  /** Database index, from the URL path `/N`. @default 0 */
  readonly db: number;
  /** `rediss://`: connect over TLS. */
  readonly tls: boolean;
  /** Key prefix from `?prefix=`; empty when none. Keys are `<prefix>tollgate:{agent}:…`. */
  readonly keyPrefix: string;
  /** The URL without credentials or query, for messages and `Ledger.description`. */
  readonly description: string;
}

const EXPECTED =
  'redis://[[user]:password@]host[:port][/db][?prefix=<key prefix>] or rediss://… (TLS), with db an integer 0-15 or higher';

/**
 * Parses and validates a Redis ledger URL.
 * @param source where the URL came from, named in a ConfigError (e.g. `TOLLGATE_LEDGER`).
 * @throws ConfigError naming the source, the URL (password masked) and the accepted form.
 */
export function parseRedisUrl(url: string, source = 'RedisLedger url'): RedisTarget {
  if (typeof url !== 'string' || url.length === 0) throw new ConfigError(source, url, EXPECTED);
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigError(source, maskPassword(url), EXPECTED, { cause: err });
  }
  const fail = (what: string): never => {
    throw new ConfigError(source, maskPassword(url), `${EXPECTED} (${what})`);
  };
  const tls = u.protocol === 'rediss:';
  if (!tls && u.protocol !== 'redis:') fail(`scheme ${u.protocol} is not redis: or rediss:`);
  // IPv6 literals come back bracketed from URL; net.connect wants them bare.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host.length === 0) fail('no host');
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail('port out of range');
  let db = 0;
  const path = u.pathname;
  if (path !== '' && path !== '/') {
    const m = /^\/(\d{1,5})\/?$/.exec(path);
    if (m === null) fail(`path ${path} is not a database index /N`);
    db = Number(m![1]);
  }
  let keyPrefix = '';
  for (const [name, value] of u.searchParams) {
    if (name === 'prefix') {
      if (value.length === 0 || value.length > 200) fail('prefix must be 1-200 characters');
      keyPrefix = value;
    } else {
      fail(`unknown query parameter ${name}`);
    }
  }
  if (u.hash !== '') fail('a #fragment is not allowed');
  const username = u.username === '' ? undefined : decodeURIComponent(u.username);
  const password = u.password === '' ? undefined : decodeURIComponent(u.password);
  const description = `${tls ? 'rediss' : 'redis'}://${u.host}/${db}`;
  return {
    host,
    port,
    db,
    tls,
    keyPrefix,
    description,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

/** The URL with any password replaced by `***`, safe to print. */
export function maskPassword(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
