/**
 * Starts a real `redis-server` for a test: loopback only, a free port, its own temp
 * directory, append-only file fsynced on every write (so a SIGKILL loses nothing
 * the server acknowledged, and a restart on the same dir brings the data back).
 *
 *   const redis = await startRedisServer();
 *   after(() => redis.stop());
 *   ... redis.url ...; await redis.kill(); await redis.start();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServerOptions {
  /** Sets `requirepass`. */
  readonly password?: string;
  /** Persist writes in an append-only file fsynced per write. @default true */
  readonly appendOnly?: boolean;
  /** Starts the server in cluster mode (a one-node cluster once slots are assigned): multi-key commands must stay in one slot. */
  readonly cluster?: boolean;
}

/** A running (or stopped, restartable) redis-server owned by one test. */
export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  /** `redis://127.0.0.1:<port>` (no password, even when one is required). */
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

  const args = [
    '--port', String(port),
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
    url: `redis://127.0.0.1:${port}`,
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
      while (!(await answersPing(port))) {
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

/** True when something on the port answers a Redis PING (or demands AUTH). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    const finish = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => finish(false));
    s.once('error', () => finish(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) finish(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
    });
  });
}
