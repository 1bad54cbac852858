/**
 * Starts the real observability stack for the collector end-to-end test on free loopback
 * ports, in a temp dir: Debian's Prometheus (remote-write receiver on), Jaeger v2 and the
 * gateway collector (both built from the Go module proxy by scripts/build-otel-binaries.sh),
 * each with the committed config files under collector-config/. Nothing is skipped: a
 * missing binary is built, a missing program fails the test with what to install.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_DIR = join(REPO_ROOT, 'collector-config');

/** A running stack and how to reach it. */
export interface Stack {
  readonly dir: string;
  readonly prometheusUrl: string;
  readonly jaegerQueryUrl: string;
  /** OTLP/HTTP base URL of the gateway collector (append /v1/traces, /v1/metrics). */
  readonly collectorOtlpHttpUrl: string;
  /** The collector's file exporter output (OTLP JSON lines). */
  readonly spansFile: string;
  /** Last lines of each process's output, for failure messages. */
  logs(): Promise<string>;
  stop(): Promise<void>;
}

/** Runs the build script (a no-op when the cached binaries exist) and returns the binaries' directory. */
export function ensureBinaries(): { otelcol: string; jaeger: string } {
  const result = spawnSync('bash', [join(REPO_ROOT, 'scripts/build-otel-binaries.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60 * 60 * 1000 });
  if (result.status !== 0) {
    throw new Error(`scripts/build-otel-binaries.sh failed (exit ${String(result.status)}):\n${result.stderr}`);
  }
  const dir = result.stdout.trim().split('\n').pop() ?? '';
  const otelcol = join(dir, 'otelcol');
  const jaeger = join(dir, 'jaeger');
  if (!existsSync(otelcol) || !existsSync(jaeger)) throw new Error(`build-otel-binaries.sh printed ${dir}, which lacks otelcol / jaeger`);
  return { otelcol, jaeger };
}

/** Absolute path of a program on PATH, or a thrown error naming how to install it. */
export function requireProgram(name: string, install: string): string {
  const r = spawnSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') throw new Error(`${name} not found on PATH: ${install} (scripts/provision.sh, the first step of npm test, does it)`);
  return path;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  output: string;
}

function start(name: string, command: string, args: readonly string[], env: Record<string, string>, cwd: string): Proc {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: Proc = { name, child, output: '' };
  const keep = (chunk: Buffer): void => {
    proc.output = (proc.output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return proc;
}

/** Polls `probe` until it resolves true; fails with the process output after `timeoutMillis`. */
async function waitFor(what: string, proc: Proc, probe: () => Promise<boolean>, timeoutMillis = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${String(proc.child.exitCode)}) before ${what}:\n${proc.output.slice(-4000)}`);
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${proc.output.slice(-4000)}`);
    await delay(150);
  }
}

async function httpOk(url: string, init?: RequestInit): Promise<boolean> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

/** Starts Prometheus, Jaeger and the gateway collector; resolves once all three answer. */
export async function startStack(): Promise<Stack> {
  const { otelcol, jaeger } = ensureBinaries();
  const prometheus = requireProgram('prometheus', 'apt-get install prometheus');
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-e2e-'));
  const [promPort, jQuery, jQueryGrpc, jOtlpGrpc, jOtlpHttp, cGrpc, cHttp] = await Promise.all(Array.from({ length: 7 }, freePort));
  const procs: Proc[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      procs.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => p.child.once('exit', () => { resolve(); }));
        p.child.kill('SIGTERM');
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const prom = start(
      'prometheus',
      prometheus,
      [
        `--config.file=${join(CONFIG_DIR, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'prometheus')}`,
        `--web.listen-address=127.0.0.1:${String(promPort)}`,
        '--web.enable-remote-write-receiver',
        '--log.level=warn',
      ],
      {},
      dir,
    );
    procs.push(prom);
    const jaegerProc = start('jaeger', jaeger, ['--config', join(CONFIG_DIR, 'jaeger.yaml')], {
      JAEGER_QUERY_HTTP_ENDPOINT: `127.0.0.1:${String(jQuery)}`,
      JAEGER_QUERY_GRPC_ENDPOINT: `127.0.0.1:${String(jQueryGrpc)}`,
      JAEGER_OTLP_GRPC_LISTEN: `127.0.0.1:${String(jOtlpGrpc)}`,
      JAEGER_OTLP_HTTP_LISTEN: `127.0.0.1:${String(jOtlpHttp)}`,
      JAEGER_LOG_LEVEL: 'warn',
    }, dir);
    procs.push(jaegerProc);
    const spansFile = join(dir, 'spans.jsonl');
    const collector = start('collector', otelcol, ['--config', join(CONFIG_DIR, 'gateway.yaml'), '--config', join(CONFIG_DIR, 'pricing.yaml')], {
      TOLLGATE_OTLP_GRPC_ENDPOINT: `127.0.0.1:${String(cGrpc)}`,
      TOLLGATE_OTLP_HTTP_ENDPOINT: `127.0.0.1:${String(cHttp)}`,
      JAEGER_OTLP_GRPC_ENDPOINT: `127.0.0.1:${String(jOtlpGrpc)}`,
      PROMETHEUS_REMOTE_WRITE_URL: `http://127.0.0.1:${String(promPort)}/api/v1/write`,
      TOLLGATE_SPANS_FILE: spansFile,
      TOLLGATE_BATCH_TIMEOUT: '200ms',
      TOLLGATE_COLLECTOR_LOG_LEVEL: 'warn',
    }, dir);
    procs.push(collector);

    const prometheusUrl = `http://127.0.0.1:${String(promPort)}`;
    const jaegerQueryUrl = `http://127.0.0.1:${String(jQuery)}`;
    const collectorOtlpHttpUrl = `http://127.0.0.1:${String(cHttp)}`;
    await Promise.all([
      waitFor('Prometheus ready', prom, () => httpOk(`${prometheusUrl}/-/ready`)),
      waitFor('Jaeger query API', jaegerProc, () => httpOk(`${jaegerQueryUrl}/api/services`)),
      // An empty OTLP/JSON export answers 200 once the receiver is up (the collector parses 1,000+ OTTL statements first).
      waitFor('the collector OTLP/HTTP receiver', collector, () =>
        httpOk(`${collectorOtlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans":[]}' }),
      ),
    ]);
    return {
      dir,
      prometheusUrl,
      jaegerQueryUrl,
      collectorOtlpHttpUrl,
      spansFile,
      logs: async () => procs.map((p) => `--- ${p.name} ---\n${p.output.slice(-3000)}`).join('\n'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Reads the collector's file exporter output as a flat list of spans with decoded attributes. */
export async function readExportedSpans(file: string): Promise<{ name: string; service: string; attributes: Record<string, unknown> }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const spans: { name: string; service: string; attributes: Record<string, unknown> }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const body = JSON.parse(line) as { resourceSpans?: { resource?: { attributes?: OtlpKv[] }; scopeSpans?: { spans?: { name: string; attributes?: OtlpKv[] }[] }[] }[] };
    for (const rs of body.resourceSpans ?? []) {
      const service = String(decodeAttributes(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ name: s.name, service, attributes: decodeAttributes(s.attributes) });
    }
  }
  return spans;
}

interface OtlpKv {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}

function decodeAttributes(kvs: readonly OtlpKv[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value;
    out[kv.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue;
  }
  return out;
}
