import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { CostReport } from '../../src/report/report.ts';
import { FIXTURES, runReport } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-report-bad-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The five lines of the collector fixture. */
const good = readFileSync(join(FIXTURES, 'spans.collector.jsonl'), 'utf8').trimEnd().split('\n');
const [line1 = '', line2 = '', line3 = '', line4 = '', line5 = ''] = good;

async function reportOf(name: string, content: string | Buffer): Promise<{ code: number; stdout: string; stderr: string; report: CostReport | undefined }> {
  const file = join(tmp, name);
  writeFileSync(file, content);
  const r = await runReport([name, '--json'], tmp);
  return { ...r, report: r.stdout === '' ? undefined : (JSON.parse(r.stdout) as CostReport) };
}

describe('tollgate report: malformed input', () => {
  it('skips bad lines with their line numbers, counts them, and reports the rest (exit 0)', async () => {
    const noSpanId = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'ab', name: 'x' }] }] }] });
    const badInt = line4.replace('"intValue":"1000"', '"intValue":"a lot"');
    assert.notEqual(badInt, line4);
    const content = [
      line1,
      'this is not json',
      '{"resourceMetrics":[]}',
      noSpanId,
      '',
      '[1,2,3]',
      badInt,
      line5,
      '{"resourceSpans":{}}',
      line3.slice(0, 200), // truncated last line, no newline
    ].join('\n');
    const r = await reportOf('bad.jsonl', content);
    assert.equal(r.code, 0);
    assert.deepEqual(r.stderr.split('\n'), [
      `tollgate report: bad.jsonl:2: skipped: invalid JSON (Unexpected token 'h', "this is not json" is not valid JSON)`,
      'tollgate report: bad.jsonl:3: skipped: not an OTLP trace export: $: expected an OTLP trace export {"resourceSpans":[...]}, got an object with keys resourceMetrics',
      'tollgate report: bad.jsonl:4: skipped: not an OTLP trace export: $.resourceSpans[0].scopeSpans[0].spans[0].spanId: missing, expected a hex id',
      'tollgate report: bad.jsonl:6: skipped: not an OTLP trace export: $: expected an object, got an array',
      'tollgate report: bad.jsonl:7: skipped: not an OTLP trace export: $.resourceSpans[0].scopeSpans[0].spans[0].attributes[4].value.intValue: expected an integer or a decimal string, got "a lot"',
      'tollgate report: bad.jsonl:9: skipped: not an OTLP trace export: $.resourceSpans: expected an array, got object',
      `tollgate report: bad.jsonl:10: skipped: truncated JSON (Expected ':' after property name in JSON at position 200 (line 1 column 201))`,
      'tollgate report: skipped 7 malformed lines of 10',
      '',
    ]);
    // Lines 1 and 8 are kept whole: the researcher's two gpt-4o calls and the HTTP span.
    assert.deepEqual(r.report?.input, { lines: 10, skippedLines: 7, gzip: false, spans: 5, inferenceSpans: 2, nestedMerged: 0, repeatedSpans: 0 });
    assert.equal(r.report?.totals.calls, 2);
    assert.equal(r.report?.totals.costUsd, 0.00875);
  });

  it('prints the skipped count after the text report too, and marks it in the header', async () => {
    writeFileSync(join(tmp, 'one-bad.jsonl'), `${line1}\n{oops\n`);
    const r = await runReport(['one-bad.jsonl'], tmp);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^tollgate report: one-bad\.jsonl\nread 2 lines \(1 skipped\), 4 spans, 2 inference spans/);
    assert.match(r.stderr, /one-bad\.jsonl:2: skipped: invalid JSON .*\ntollgate report: skipped 1 malformed line of 2\n$/);
  });

  it('exits 1 when every line is malformed', async () => {
    const r = await reportOf('all-bad.jsonl', 'nope\n{"resourceSpans": 3}\n');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /all-bad\.jsonl:1: skipped: invalid JSON/);
    assert.match(r.stderr, /all-bad\.jsonl:2: skipped: not an OTLP trace export: \$\.resourceSpans: expected an array, got number/);
    assert.match(r.stderr, /skipped 2 malformed lines of 2\ntollgate report: no OTLP spans in all-bad\.jsonl \(2 lines, 2 skipped\)\n$/);
  });

  it('shows the first 100 malformed lines and counts the rest', async () => {
    const r = await reportOf('garbage.jsonl', `${line1}\n${'x\n'.repeat(150)}`);
    assert.equal(r.code, 0);
    const shown = r.stderr.split('\n').filter((l) => l.includes(': skipped: '));
    assert.equal(shown.length, 100);
    assert.equal(shown[99], `tollgate report: garbage.jsonl:101: skipped: invalid JSON (Unexpected token 'x', "x" is not valid JSON)`);
    assert.match(r.stderr, /only their count is shown below\ntollgate report: skipped 150 malformed lines of 151\n$/);
    assert.equal(r.report?.totals.calls, 2);
  });

  it('accepts CRLF line endings, blank lines, enum names and the pre-1.0 instrumentationLibrarySpans key', async () => {
    const old = line1.replace('"scopeSpans"', '"instrumentationLibrarySpans"');
    const named = line2.replace(/"kind":3/g, '"kind":"SPAN_KIND_CLIENT"');
    const r = await reportOf('crlf.jsonl', `${old}\r\n\r\n${named}\r\n${line3}\r\n`);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.report?.input.lines, 4);
    // Lines 1-3: researcher's three calls (the nested pair in lines 2-3 merged) and the classifier's three.
    assert.equal(r.report?.totals.calls, 6);
    assert.equal(r.report?.input.nestedMerged, 1);
  });

  it('counts a span exported twice (a retried batch) once', async () => {
    const r = await reportOf('repeated.jsonl', `${line1}\n${line1}\n`);
    assert.equal(r.code, 0);
    assert.equal(r.report?.totals.calls, 2);
    assert.equal(r.report?.input.repeatedSpans, 2);
  });
});

describe('tollgate report: truncated gzip', () => {
  const whole = gzipSync(`${good.join('\n')}\n`);

  it('keeps every line before the cut when only the gzip trailer is missing, and counts the lost tail as one skipped line', async () => {
    const r = await reportOf('cut-trailer.jsonl.gz', whole.subarray(0, whole.length - 8));
    assert.equal(r.code, 0);
    assert.equal(r.stderr, 'tollgate report: cut-trailer.jsonl.gz:6: skipped: gzip data ends early or is corrupt (unexpected end of file); the rest of the file was not read\ntollgate report: skipped 1 malformed line of 6\n');
    assert.equal(r.report?.totals.costUsd, 0.06003);
    assert.equal(r.report?.input.gzip, true);
  });

  it('reports the lines decompressed before a cut in the middle of the data', async () => {
    // Many copies of the fixture (distinct trace ids so none is a repeat), cut halfway.
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) for (const l of good) lines.push(l.replace(/"traceId":"(.{4})/g, `"traceId":"${String(i).padStart(4, '0')}`));
    const gz = gzipSync(`${lines.join('\n')}\n`, { level: 1 });
    const r = await reportOf('cut-middle.jsonl.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^tollgate report: cut-middle\.jsonl\.gz:\d+: skipped: gzip data ends early or is corrupt \(unexpected end of file\); the rest of the file was not read\ntollgate report: skipped 1 malformed line of \d+\n$/);
    const read = r.report?.input.lines ?? 0;
    assert.ok(read > 100 && read < 1000, `expected a part of the 1000 lines, read ${read}`);
    assert.ok((r.report?.totals.calls ?? 0) > 100);
  });

  it('exits 1 when the gzip data is corrupt from the start', async () => {
    const corrupt = Buffer.from(whole);
    corrupt.fill(0xff, 10, 40);
    const r = await reportOf('corrupt.gz', corrupt);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tollgate report: corrupt\.gz:1: skipped: gzip data ends early or is corrupt \(.+\); the rest of the file was not read\n/);
    assert.match(r.stderr, /no OTLP spans in corrupt\.gz \(1 lines, 1 skipped\)\n$/);
  });
});
