/**
 * `npm i tollgate` beside every client a Node service uses, the way a user installs it: the packed
 * tarball into a fresh project with its own `.npmrc` (no `legacy-peer-deps`, which this repository's
 * `.npmrc` sets and which would hide an ERESOLVE), `npm install --prefer-offline` (npm's cache, the
 * registry for what it lacks). `@mistralai/mistralai` declares optional peers on
 * `@opentelemetry/exporter-trace-otlp-http` ^0.220, `@opentelemetry/resources` ^2.9 and
 * `@opentelemetry/sdk-trace-base` ^2.9; tollgate bundles its OpenTelemetry SDK packages
 * (`bundleDependencies`) so they stay inside tollgate's own folder and no peer range can conflict.
 * Then an app runs under `node --import tollgate/register` against the stand-in (one Gemini call,
 * one call through the ESM-only Mistral client) and its priced spans reach a local OTLP receiver. Slow-ish (pack + install: about a minute).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { geminiRoutes } from '../src/standin/gemini.ts';
import { mistralRoutes } from '../src/standin/mistral.ts';
import { startStandinServer, type StandinServer } from '../src/standin/server.ts';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.ts';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Every client the coverage table names, at the versions this repository tests. */
const CLIENTS = [
  'openai@7.57.0',
  '@anthropic-ai/sdk@1.14.0',
  '@google/genai@2.32.0',
  '@mistralai/mistralai@2.7.0',
  '@langchain/core@1.4.0',
  '@langchain/openai@1.5.8',
  '@langchain/anthropic@1.5.11',
  '@langchain/google-genai@2.3.2',
  '@openai/agents@0.20.0',
  'ai@7.0.173',
  '@ai-sdk/openai@4.0.118',
  '@aws-sdk/client-bedrock-runtime',
  '@opentelemetry/api@1.10.0',
];

let dir: string;
let standin: StandinServer;
let receiver: OtlpReceiver;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-pack-'));
  standin = await startStandinServer({ routes: [...geminiRoutes(), ...mistralRoutes()] });
  receiver = await startOtlpReceiver();
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await standin.close();
  await receiver.close();
});

test('the packed tarball installs beside every client without ERESOLVE and prices a call under --import tollgate/register', { timeout: 240_000 }, async () => {
  // The repo's dist is what `npm pack` ships; build it without running `prepare` in the temp project.
  await exec(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball !== undefined, 'npm pack wrote a tarball');
  const app = join(dir, 'app');
  await exec('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  // Its own npmrc: legacy-peer-deps is NOT set, so a peer conflict fails the install.
  writeFileSync(join(app, '.npmrc'), 'fund=false\naudit=false\n');
  const install = await exec(npm, ['install', '--prefer-offline', '--ignore-scripts', join(dir, tarball), ...CLIENTS], {
    cwd: app,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_legacy_peer_deps: 'false' },
  }).catch((error: { stderr?: string; message: string }) => {
    throw new Error(`npm install failed: ${error.stderr ?? error.message}`);
  });
  assert.doesNotMatch(install.stderr, /ERESOLVE/);

  writeFileSync(
    join(app, 'app.mjs'),
    [
      "import { GoogleGenAI } from '@google/genai';",
      "const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: process.env.STANDIN_URL } });",
      "const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello' });",
      'console.log(r.text);',
      "const { Mistral } = await import('@mistralai/mistralai');",
      "const mistral = new Mistral({ apiKey: 'k', serverURL: process.env.STANDIN_URL });",
      "await mistral.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'Hello' }] });",
      '',
    ].join('\n'),
  );
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tollgate/register', 'app.mjs'], {
      cwd: app,
      env: {
        PATH: process.env.PATH ?? '',
        STANDIN_URL: standin.url,
        OTEL_SERVICE_NAME: 'packaged-app',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '600000',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  assert.equal(result.code, 0, `the app exits by itself with 0; stderr: ${result.stderr}`);
  const spans = receiver.spans.filter((s) => s.resource['service.name'] === 'packaged-app' && s.attributes['gen_ai.provider.name'] === 'gcp.gemini');
  assert.equal(spans.length, 1);
  assert.ok(Number(spans[0]?.attributes['tollgate.cost.usd']) > 0);
  const mistralSpans = receiver.spans.filter((s) => s.resource['service.name'] === 'packaged-app' && s.attributes['gen_ai.provider.name'] === 'mistral_ai');
  assert.equal(mistralSpans.length, 1);
  assert.ok(Number(mistralSpans[0]?.attributes['tollgate.cost.usd']) > 0);
  assert.equal(standin.requests.length, 2);
});

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

test('no file in the packed tarball imports a package that is not a dependency or peer of tollgate', async () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | string | undefined>;
  const declared = new Set(['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((k) => Object.keys((manifest[k] as Record<string, string> | undefined) ?? {})));
  const { stdout } = await exec(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
  // tollgate's own files; the bundled dependencies under node_modules/ resolve their imports inside the bundle.
  const code = files.filter((f) => !f.startsWith('node_modules/') && /\.(m|c)?js$|\.d\.(m|c)?ts$/.test(f));
  assert.ok(code.some((f) => f === 'dist/register.js'), `the tarball lists its code: ${code.slice(0, 5).join(', ')}`);
  const undeclared: string[] = [];
  for (const file of code) {
    // TypeScript's own pre-processor: static imports and re-exports, import(), require(), import types.
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (specifier.startsWith('.') || specifier.startsWith('node:') || isBuiltin(specifier)) continue;
      const name = packageOf(specifier);
      if (name !== manifest['name'] && !declared.has(name)) undeclared.push(`${file} imports ${specifier}`);
    }
  }
  assert.deepEqual(undeclared, []);
});
