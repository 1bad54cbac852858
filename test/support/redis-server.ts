/**
 * Starts a real `redis-server` for a test: loopback only, a free port, its own temp
 * directory, append-only file fsynced on every write (so a SIGKILL loses nothing
 * the server acknowledged, and a restart on the same dir brings the data back).
 *
 *   const redis = await startRedisServer();
 *   after(() => redis.stop());
 *   ... redis.url ...; await redis.kill(); await redis.start();
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDIS_SERVER = '/usr/bin/redis-server';
const OPENSSL = '/usr/bin/openssl';

/** PEM files of a throwaway CA and a server certificate it signed, in their own temp directory. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA certificate (PEM): trust this to trust the server. */
  readonly caFile: string;
  readonly ca: Buffer;
  /** Server certificate and key, valid for the subjectAltNames given (default `IP:127.0.0.1`). */
  readonly certFile: string;
  readonly keyFile: string;
  /** Deletes the directory. */
  remove(): void;
}

/**
 * Generates a CA and a server certificate with openssl (EC P-256, valid one day:
 * a few tens of ms). The server certificate carries `subjectAltName` = `altNames`.
 */
export function makeTestCertificates(altNames = 'IP:127.0.0.1'): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-certs-'));
  const f = (name: string): string => join(dir, name);
  const run = (args: string[]): void => {
    execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=tollgate test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=tollgate test server']);
  writeFileSync(f('server.ext'), `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', '1', '-days', '1',
    '-sha256', '-extfile', f('server.ext'), '-out', f('server.crt')]);
  return {
    dir,
    caFile: f('ca.crt'),
    ca: readFileSync(f('ca.crt')),
    certFile: f('server.crt'),
    keyFile: f('server.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface RedisServerOptions {
  /** Sets `requirepass`. */
  readonly password?: string;
  /** Persist writes in an append-only file fsynced per write. @default true */
  readonly appendOnly?: boolean;
  /** Starts the server in cluster mode (a one-node cluster once slots are assigned): multi-key commands must stay in one slot. */
  readonly cluster?: boolean;
  /**
   * Serve TLS only (`--port 0 --tls-port <port>`, no client certificates asked) with
   * these files; then `url` is `rediss://…`.
   */
  readonly tls?: Pick<TestCertificates, 'caFile' | 'certFile' | 'keyFile'>;
}

/** A running (or stopped, restartable) redis-server owned by one test. */
export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  /** `redis://127.0.0.1:<port>` (`rediss://` with `tls`; no password, even when one is required). */
  readonly url: string;
  readonly pid: number | undefined;
  /** (Re)starts the server on the same port and directory; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs without closing its sockets. */
  pause(): void;
  resume(): void;
  /** Stops the server and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-redis-'));
  let child: ChildProcess | undefined;
  let removed = false;

  const tls = options.tls;
  const args = [
    ...(tls === undefined
      ? ['--port', String(port)]
      : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
          '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no']),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendOnly === false ? 'no' : 'yes',
    '--appendfsync', 'always',
    '--daemonize', 'no',
    '--loglevel', 'warning',
    '--logfile', '',
  ];
  if (options.password !== undefined) args.push('--requirepass', options.password);
  if (options.cluster === true) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));

  const exited = (p: ChildProcess): Promise<void> =>
    p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));

  const server: RedisServer = {
    port,
    dir,
    url: `${tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    async start() {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) throw new Error('redis-server already running');
      const p = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = p;
      live.add(p);
      let stderr = '';
      p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      p.once('exit', () => live.delete(p));
      const deadline = Date.now() + 10_000;
      const ca = tls === undefined ? undefined : readFileSync(tls.caFile);
      while (!(await answersPing(port, ca))) {
        if (p.exitCode !== null) throw new Error(`redis-server exited (${p.exitCode}): ${stderr}`);
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async kill() {
      const p = child;
      if (p === undefined) return;
      p.kill('SIGCONT');
      p.kill('SIGKILL');
      await exited(p);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      const p = child;
      if (p !== undefined && p.exitCode === null && p.signalCode === null) {
        p.kill('SIGCONT');
        p.kill('SIGKILL');
        await exited(p);
      }
      if (!removed) {
        removed = true;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  await server.start();
  return server;
}

/** True when something on the port answers a Redis PING (or demands AUTH); over TLS trusting `ca` when given. */
function answersPing(port: number, ca?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = ca === undefined ? connect(port, '127.0.0.1') : tlsConnect({ port, host: '127.0.0.1', ca });
    let buf = '';
    const finish = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => finish(false));
    s.once('error', () => finish(false));
    s.once(ca === undefined ? 'connect' : 'secureConnect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
    });
  });
}
