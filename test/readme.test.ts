/**
 * The README and docs/ cannot rot: every command in their ```sh blocks is run here (from the
 * repo root, with the built package), and must exit 0. A few lines need a local
 * stand-in for something only a user has (their app, their collector); those
 * substitutions are listed below and each must still match a README line, so a
 * README edit that drops or renames a command fails this test too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { anthropicRoutes } from '../src/standin/anthropic.ts';
import { openaiRoutes } from '../src/standin/openai.ts';
import { startStandinServer, type StandinServer } from '../src/standin/server.ts';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
/** docs/*.md by file name: the reference the README points to (configuration, pricing, CLI, ...). */
const docs = new Map(
  readdirSync(new URL('../docs/', import.meta.url))
    .filter((f) => f.endsWith('.md'))
    .map((f) => [f, readFileSync(new URL(`../docs/${f}`, import.meta.url), 'utf8')] as const),
);
const allMarkdown = [readme, ...docs.values()].join('\n');

/** Joins backslash-continued lines and drops comments; one entry per command. */
function shellCommands(markdown: string): string[] {
  const out: string[] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = (block[1] ?? '').replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line.length > 0 && !line.startsWith('#')) out.push(line);
    }
  }
  return out;
}

/** Commands run elsewhere, with where. Each must appear in the README. */
const RUN_ELSEWHERE: Record<string, string> = {
  'npm test': 'this very run is `npm test` (.ci/run runs it on a clean clone)',
};

let standin: StandinServer;
let receiver: OtlpReceiver;
before(async () => {
  standin = await startStandinServer({ routes: [...openaiRoutes(), ...anthropicRoutes()] });
  receiver = await startOtlpReceiver();
});
after(async () => {
  await standin.close();
  await receiver.close();
});

/** What a user's environment provides, in local form. */
function localise(command: string): string {
  return command
    // CI ran `npm ci` and `npm test` built dist/ just before; rebuilding here would rewrite dist/
    // under the feet of tests running in parallel. The script's two halves are pinned below.
    .replace('npm ci && npm run demo', 'node dist/cli/main.js demo')
    .replace('http://localhost:4318', receiver.url)
    .replace(/ app\.js$/, ' test/blackbox/app.mjs') // a user's service: ours talks to the stand-in
    .replace(/^npm run bench$/, 'npm run bench -- pricing'); // the runner and one benchmark; the full set takes minutes
}

function sh(command: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {
      cwd: root,
      env: { ...process.env, STANDIN_URL: standin.url, OTEL_METRIC_EXPORT_INTERVAL: '600000', NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const readmeCommands = shellCommands(readme);
const commands = shellCommands(allMarkdown);

test('the README has the two commands and every listed exception still matches a README line', () => {
  // The two commands are the README's own, not buried in docs/.
  assert.ok(readmeCommands.includes('npm ci && npm run demo'));
  assert.ok(readmeCommands.includes('npm test'));
  for (const c of Object.keys(RUN_ELSEWHERE)) assert.ok(commands.includes(c), `README no longer has: ${c}`);
  assert.ok(commands.length >= 8, `found only ${commands.length} commands`);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['demo'], 'npm run build --silent && node dist/cli/main.js demo');
  assert.match(pkg.scripts['test'] ?? '', /^bash scripts\/provision\.sh && npm run build && /);
});

for (const command of commands) {
  if (RUN_ELSEWHERE[command] !== undefined) continue;
  test(`README command runs: ${command}`, async () => {
    const local = localise(command);
    const r = await sh(local);
    assert.equal(r.code, 0, `${local}\n${r.out.slice(-3000)}`);
    assert.ok(r.out.trim().length > 0, 'prints something');
  });
}

test('the README links every page of docs/, and every link to docs/ resolves', () => {
  assert.ok(docs.size >= 10, `docs/ has ${docs.size} pages`);
  for (const page of docs.keys()) assert.ok(readme.includes(`](docs/${page})`), `README does not link docs/${page}`);
  for (const [, target] of allMarkdown.matchAll(/\]\((?:docs\/)?([a-z-]+\.md)(?:#[a-z0-9-]+)?\)/g)) {
    assert.ok(docs.has(target!), `a link points to docs/${target} (not a page of docs/)`);
  }
});

/**
 * The project's contract and notes outside the repository, by name (with or without `.md`);
 * `--ledger SPEC` is the CLI's placeholder, not a citation. Built from pieces so that this file
 * does not match itself.
 */
const OUTSIDE_CITATION = new RegExp(`(?<!ledger )\\b(${['SP', 'EC'].join('')}|${['FIELD', 'NOTES'].join('-')})(\\.md)?\\b`);

test('code comments cite docs inside the repository, and the sections they name exist', () => {
  const cited: [string, string][] = [];
  const walk = (dir: URL): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const url = new URL(`${entry.name}${entry.isDirectory() ? '/' : ''}`, dir);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'testdata') walk(url);
      } else if (/\.(ts|mjs|go|sh)$/.test(entry.name) || (entry.name.endsWith('.md') && !url.pathname.includes('/test/'))) {
        cited.push([fileURLToPath(url), readFileSync(url, 'utf8')]);
      }
    }
  };
  // The code, and the READMEs beside it (src/policy/README.md, collector/.../README.md).
  for (const dir of ['src', 'test', 'bench', 'scripts', 'collector']) walk(new URL(`../${dir}/`, import.meta.url));
  assert.ok(cited.some(([f]) => f.endsWith('.go')) && cited.some(([f]) => f.endsWith('README.md')), 'Go sources and READMEs are scanned');
  let citations = 0;
  for (const [file, text] of cited) {
    assert.doesNotMatch(text, OUTSIDE_CITATION, `${file} cites a file outside the repository`);
    for (const [, page, section] of text.matchAll(/docs\/([a-z-]+\.md)(?:,? "([^"]+)")?/g)) {
      citations++;
      const doc = docs.get(page!);
      assert.ok(doc !== undefined || !existsSync(new URL(`../docs/${page}`, import.meta.url)), `docs/${page}`);
      assert.ok(doc !== undefined, `cited docs/${page} does not exist`);
      if (section !== undefined) assert.ok(doc.includes(`## ${section}`), `docs/${page} has no section "${section}"`);
    }
  }
  assert.ok(citations >= 10, `found ${citations} citations of docs/`);
});

test('the config and price-file examples of the docs are valid as written', async () => {
  const { parseConfigObject } = await import('../src/config/index.ts');
  const { parsePriceOverrides } = await import('../src/pricing/index.ts');
  const blocks = [...allMarkdown.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] ?? '') as { version: number; models?: unknown });
  const config = blocks.find((b) => b.models === undefined);
  const prices = blocks.find((b) => b.models !== undefined);
  assert.ok(config !== undefined && prices !== undefined, 'the docs have a config example and a price-file example');
  assert.ok(docs.get('configuration.md')?.includes('"researcher"'), 'the config example is in docs/configuration.md');
  assert.ok(docs.get('pricing.md')?.includes('"acme-large"'), 'the price-file example is in docs/pricing.md');
  const parsed = parseConfigObject(config, 'README config example');
  assert.equal(parsed.agents['researcher']?.taskUsd, 'auto');
  const models = parsePriceOverrides('README price example', prices);
  assert.equal(models[0]?.model, 'acme-large');
  assert.equal(models[0]?.tiers?.[0]?.aboveInputTokens, 200000);
});
