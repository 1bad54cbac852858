/**
 * Parsing of Redis ledger URLs (TOLLGATE_LEDGER). Done once at start-up so a bad URL fails
 * there with a ConfigError, never inside a call.
 *
 * - `redis://` / `rediss://`: one server.
 * - `redis+cluster://host:port[,host:port…]`: a Redis Cluster; the nodes listed are seeds,
 *   the rest is discovered. No database index (a cluster has only db 0).
 * - `redis+sentinel://host:port[,host:port…]/<master name>[/db]`: the master that these
 *   Sentinels name, followed across failovers.
 * `rediss+cluster://` and `rediss+sentinel://` connect to the data nodes over TLS.
 */
import { ConfigError } from '../errors.ts';

/** Where and how to reach the Redis that holds the ledger. */
export interface RedisTarget {
  /** `single`: one server; `cluster`: `nodes` are cluster seeds; `sentinel`: `nodes` are Sentinels of `masterName`. */
  readonly mode: 'single' | 'cluster' | 'sentinel';
  /** The first (for `single`, the only) host. */
  readonly host: string;
  readonly port: number;
  /** Every host:port of the URL, in order. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The Sentinel master group name (`sentinel` mode). */
  readonly masterName?: string;
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
  'redis://[[user]:password@]host[:port][/db][?prefix=<key prefix>] or rediss://… (TLS), with db an integer 0-15 or higher; ' +
  'redis+cluster://host:port[,host:port…][?prefix=…] for a Redis Cluster; redis+sentinel://host:port[,host:port…]/<master name>[/db][?prefix=…] for Sentinel (rediss+… for TLS)';

/**
 * Parses and validates a Redis ledger URL.
 * @param source where the URL came from, named in a ConfigError (e.g. `TOLLGATE_LEDGER`).
 * @throws ConfigError naming the source, the URL (password masked) and the accepted form.
 */
export function parseRedisUrl(url: string, source = 'RedisLedger url'): RedisTarget {
  if (typeof url !== 'string' || url.length === 0) throw new ConfigError(source, url, EXPECTED);
  const multi = /^(rediss?)\+(cluster|sentinel):\/\/([^/?#]*)(.*)$/i.exec(url);
  if (multi !== null) return parseMultiNode(url, source, multi[1]!.toLowerCase() === 'rediss', multi[2]!.toLowerCase() as 'cluster' | 'sentinel', multi[3]!, multi[4]!);
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
    mode: 'single',
    host,
    port,
    nodes: [{ host, port }],
    db,
    tls,
    keyPrefix,
    description,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

/** `redis+cluster://` / `redis+sentinel://`: several host:port, parsed by hand (WHATWG URL takes one host). */
function parseMultiNode(url: string, source: string, tls: boolean, mode: 'cluster' | 'sentinel', authority: string, rest: string): RedisTarget {
  const fail = (what: string): never => {
    throw new ConfigError(source, maskPassword(url), `${EXPECTED} (${what})`);
  };
  let username: string | undefined;
  let password: string | undefined;
  let hosts = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const cred = authority.slice(0, at);
    hosts = authority.slice(at + 1);
    const colon = cred.indexOf(':');
    const user = colon >= 0 ? cred.slice(0, colon) : cred;
    const pass = colon >= 0 ? cred.slice(colon + 1) : '';
    try {
      if (user !== '') username = decodeURIComponent(user);
      if (pass !== '') password = decodeURIComponent(pass);
    } catch {
      fail('credentials are not valid percent-encoding');
    }
  }
  const nodes = hosts.split(',').map((hp) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(hp.trim());
    if (m === null) return fail(`node "${hp}" is not host[:port]`);
    const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
    const port = m[2] === undefined ? (mode === 'sentinel' ? 26379 : 6379) : Number(m[2]);
    if (port < 1 || port > 65535) fail(`port of ${hp} out of range`);
    return { host, port };
  });
  if (nodes.length === 0 || hosts.trim() === '') fail('no host');
  const q = rest.indexOf('?');
  const path = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q + 1) : '';
  if (rest.includes('#')) fail('a #fragment is not allowed');
  const segments = path.split('/').filter((x) => x !== '');
  let db = 0;
  let masterName: string | undefined;
  if (mode === 'sentinel') {
    if (segments.length === 0) fail('redis+sentinel:// needs the master name as its path: /<master name>');
    masterName = decodeURIComponent(segments[0]!);
    if (segments.length > 2) fail(`path ${path} is not /<master name>[/db]`);
    if (segments.length === 2) {
      if (!/^\d{1,5}$/.test(segments[1]!)) fail(`path ${path}: the database index must be an integer`);
      db = Number(segments[1]);
    }
  } else if (segments.length > 0) {
    fail('a Redis Cluster has no database index: no path after the nodes');
  }
  let keyPrefix = '';
  for (const [name, value] of new URLSearchParams(query)) {
    if (name === 'prefix') {
      if (value.length === 0 || value.length > 200) fail('prefix must be 1-200 characters');
      keyPrefix = value;
    } else {
      fail(`unknown query parameter ${name}`);
    }
  }
  const list = nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  const scheme = `${tls ? 'rediss' : 'redis'}+${mode}`;
  const description = mode === 'sentinel' ? `${scheme}://${list}/${masterName}/${db}` : `${scheme}://${list}`;
  return {
    mode,
    host: nodes[0]!.host,
    port: nodes[0]!.port,
    nodes,
    db,
    tls,
    keyPrefix,
    description,
    ...(masterName === undefined ? {} : { masterName }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

/** The URL with any password replaced by `***`, safe to print. */
export function maskPassword(url: string): string {
  return url.replace(/^(rediss?(?:\+(?:cluster|sentinel))?:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
