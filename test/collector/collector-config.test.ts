import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { collectorConfig } from '../../src/cli/collector-config.ts';

const GATEWAY = new URL('../../collector-config/gateway.yaml', import.meta.url);

async function run(args: string[], env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await collectorConfig(args, { stdout, stderr, env, cwd });
  return { code, stdout: out, stderr: err };
}

void test('`tollgate collector-config` prints the shipped gateway config, whose trace pipeline prices with the tollgate processor', async () => {
  const { code, stdout } = await run([]);
  assert.equal(code, 0);
  assert.equal(stdout, await readFile(GATEWAY, 'utf8'));
  assert.match(stdout, /^ {6}processors: \[memory_limiter, tollgate, batch\]$/m);
  assert.match(stdout, /^ {4}prices_file: \$\{env:TOLLGATE_PRICES:-\}$/m);
  assert.doesNotMatch(stdout, /transform\/tollgate_pricing|pricing\.yaml/);
});

void test('--prices (or TOLLGATE_PRICES) is validated with the SDK loader and written as the processor prices_file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cc-'));
  try {
    await writeFile(join(dir, 'prices.json'), JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'acme-large', input: 2.5, output: 10 }] }));
    const viaFlag = await run(['--prices', 'prices.json'], {}, dir);
    assert.equal(viaFlag.code, 0);
    assert.ok(viaFlag.stdout.includes(`\n    prices_file: ${JSON.stringify(join(dir, 'prices.json'))}\n`), viaFlag.stdout);
    const viaEnv = await run(['--out', 'gw.yaml'], { TOLLGATE_PRICES: 'prices.json' }, dir);
    assert.equal(viaEnv.code, 0);
    assert.equal(await readFile(join(dir, 'gw.yaml'), 'utf8'), viaFlag.stdout);

    await writeFile(join(dir, 'bad.json'), JSON.stringify({ version: 1, models: [{ provider: 'openai', model: 'm', input: -1, output: 1 }] }));
    await assert.rejects(run(['--prices', 'bad.json'], {}, dir), (err: Error) => {
      assert.match(err.message, /bad\.json \$\.models\[0\]\.input: got -1, expected a finite number >= 0/);
      return true;
    });
    assert.equal((await run(['--bogus'], {}, dir)).code, 2);
    assert.equal((await run(['--check', 'x'], {}, dir)).code, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('docker-compose builds the gateway from the same ocb manifest and release as build-otel-binaries.sh, tollgate processor included', async () => {
  const root = new URL('../../', import.meta.url);
  const read = async (f: string): Promise<string> => await readFile(new URL(f, root), 'utf8');
  const manifest = await read('collector-config/builder-config.yaml');
  const dockerfile = await read('collector-config/Dockerfile');
  const compose = await read('docker-compose.yaml');
  const ignore = await read('.dockerignore');
  const version = /^ {2}version: (\S+)$/m.exec(manifest)?.[1];
  assert.equal(version, '0.161.0');
  assert.match(manifest, /^ {2}- gomod: github\.com\/tollgate-dev\/tollgate\/collector\/tollgateprocessor v0\.0\.0\n {4}path: \.\.\/collector\/tollgateprocessor$/m);
  assert.ok(dockerfile.includes(`go install go.opentelemetry.io/collector/cmd/builder@v${String(version)}`), 'Dockerfile installs ocb at the manifest release');
  assert.match(dockerfile, /^COPY collector\/tollgateprocessor\/ collector\/tollgateprocessor\/$/m);
  assert.match(dockerfile, /^WORKDIR \/src\/collector-config$/m, 'ocb runs where the manifest path resolves');
  assert.match(compose, /dockerfile: collector-config\/Dockerfile/);
  assert.match(compose, /command: \["--config=\/etc\/tollgate\/gateway\.yaml"\]/);
  assert.doesNotMatch(compose, /pricing\.yaml|opentelemetry-collector-contrib/);
  for (const path of ['collector/tollgateprocessor', 'collector-config/builder-config.yaml', 'collector-config/gateway.yaml']) assert.ok(ignore.includes(`!${path}`), `.dockerignore keeps ${path}`);
});
