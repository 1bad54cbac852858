import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { CostReport } from '../../src/report/report.ts';
import { FIXTURES, runReport } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-report-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

describe('tollgate report: golden output', () => {
  it('prints the expected text tables for the collector file exporter format', async () => {
    const r = await runReport(['spans.collector.jsonl']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, fixture('expected.collector.txt'));
  });

  it('prints the expected JSON with --json', async () => {
    const r = await runReport(['spans.collector.jsonl', '--json']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, fixture('expected.collector.json'));
  });

  it('matches the totals computed by hand from the scenario in fixtures/generate.ts', async () => {
    const r = await runReport(['spans.collector.jsonl', '--json']);
    const report = JSON.parse(r.stdout) as CostReport;
    // 9 sent calls: 3 researcher (the nested Anthropic span merged), 3 classifier, outliner, 2 writer.
    assert.deepEqual(report.totals, {
      calls: 9,
      errors: 1,
      blocked: 1,
      unpriced: 1,
      inputTokens: 1200 + 800 + 5000 + 2000 + 0 + 400 + 1000 + 3000 + 500,
      outputTokens: 300 + 200 + 400 + 0 + 0 + 50 + 500 + 2000 + 100,
      cacheReadTokens: 1000 + 4000,
      cacheWriteTokens: 2000,
      costUsd: 0.06003, // 0.00475 + 0.004 + 0.0102 + 0.00004 + 0 + 0.00009 + 0.00045 + 0.0405
      // gpt-4o: 1000 x ($2.5 - $1.25)/MTok; sonnet: 4000 x ($3 - $0.30)/MTok.
      cacheSavingsUsd: 0.00125 + 0.0108,
      cacheSavingsUnknown: 0,
    });
    assert.deepEqual(report.input, { lines: 5, skippedLines: 0, gzip: false, spans: 14, inferenceSpans: 11, nestedMerged: 1, repeatedSpans: 0 });
    assert.deepEqual(
      report.byAgent.map((a) => [a.agent, a.calls, a.costUsd]),
      [
        ['writer-svc', 2, 0.0405],
        ['researcher', 3, 0.01895],
        ['outliner', 1, 0.00045],
        ['classifier', 3, 0.00013],
      ],
    );
    // The embeddings call starts on the 24th and ends on the 25th: counted on the 25th.
    assert.deepEqual(
      report.byDay.map((d) => [d.day, d.calls, d.costUsd]),
      [
        ['2026-11-24', 4, 0.00884],
        ['2026-11-25', 5, 0.05119],
      ],
    );
  });

  it('reads OTLP/HTTP JSON request bodies (the JS exporter format) to the same report', async () => {
    const collector = JSON.parse((await runReport(['spans.collector.jsonl', '--json'])).stdout) as CostReport;
    const r = await runReport(['spans.otlp-http.jsonl', '--json']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    const http = JSON.parse(r.stdout) as CostReport;
    assert.equal(http.input.lines, 6);
    assert.deepEqual({ ...http, input: { ...http.input, lines: 5 } }, collector);
  });

  it('reads a gzip file (detected by its magic bytes, whatever its name) to the same report', async () => {
    const gz = join(tmp, 'spans.collector.jsonl.gz');
    writeFileSync(gz, gzipSync(readFileSync(join(FIXTURES, 'spans.collector.jsonl'))));
    const noSuffix = join(tmp, 'spans-no-suffix');
    writeFileSync(noSuffix, gzipSync(readFileSync(join(FIXTURES, 'spans.otlp-http.jsonl'))));

    const text = await runReport([gz]);
    assert.equal(text.code, 0);
    assert.equal(text.stderr, '');
    const expected = fixture('expected.collector.txt')
      .replace('tollgate report: spans.collector.jsonl', `tollgate report: ${gz}`)
      .replace('(0 skipped),', '(0 skipped), gzip,');
    assert.equal(text.stdout, expected);

    const json = JSON.parse((await runReport([noSuffix, '--json'])).stdout) as CostReport;
    assert.equal(json.input.gzip, true);
    assert.equal(json.totals.costUsd, 0.06003);
    assert.equal(json.totals.calls, 9);
  });

  it('reads a gzip file made of several gzip members (concatenated, as rotated logs are)', async () => {
    const lines = fixture('spans.collector.jsonl').split('\n');
    const file = join(tmp, 'members.gz');
    writeFileSync(file, Buffer.concat([gzipSync(`${lines.slice(0, 2).join('\n')}\n`), gzipSync(`${lines.slice(2).join('\n')}`)]));
    const r = await runReport([file, '--json']);
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.stdout) as CostReport).totals.costUsd, 0.06003);
  });
});

describe('tollgate report: exit codes', () => {
  it('exits 1 with a message naming the file when it does not exist', async () => {
    const r = await runReport(['no-such-file.jsonl']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `tollgate report: cannot open ${join(FIXTURES, 'no-such-file.jsonl')}: ENOENT\n`);
  });

  it('exits 1 when the path is a directory', async () => {
    const r = await runReport([tmp]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tollgate report: cannot read .*: EISDIR\n$/);
  });

  it('exits 1 when the file is empty', async () => {
    const file = join(tmp, 'empty.jsonl');
    writeFileSync(file, '');
    const r = await runReport([file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `tollgate report: no OTLP spans in ${file} (0 lines, 0 skipped)\n`);
  });

  it('prints empty tables and exits 0 for spans without any inference call', async () => {
    const line = fixture('spans.collector.jsonl').split('\n')[4] ?? ''; // the HTTP client span only
    const file = join(tmp, 'http-only.jsonl');
    writeFileSync(file, `${line}\n`);
    const r = await runReport([file]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /read 1 line \(0 skipped\), 1 span, 0 inference spans/);
    assert.match(r.stdout, /By agent\nagent +calls[^\n]*\n-+[ -]+\n\(no calls\)\n/);
    assert.match(r.stdout, /\nnote: no inference spans/);
  });

  it('exits 2 on bad usage', async () => {
    assert.equal((await runReport([])).code, 2);
    assert.match((await runReport([])).stderr, /^tollgate report: FILE is required\n/);
    assert.equal((await runReport(['a', 'b'])).code, 2);
    assert.equal((await runReport(['spans.collector.jsonl', '--bogus'])).code, 2);
    assert.equal((await runReport(['spans.collector.jsonl', '--html'])).code, 2);
    const help = await runReport(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: tollgate report FILE/);
  });
});
