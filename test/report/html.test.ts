/**
 * The HTML report: self-contained (no script, no external resource), escaped,
 * and rendered by a real browser (Debian's chromium, headless). The screenshot
 * is kept as a test artifact: test-artifacts/report.png.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { SpanAggregator } from '../../src/report/aggregate.ts';
import { renderReportHtml } from '../../src/report/html.ts';
import { reportFromAggregate } from '../../src/report/report.ts';
import { runReport } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const HTML = join(ARTIFACTS, 'report.html');
const PNG = join(ARTIFACTS, 'report.png');

const profile = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
after(() => rmSync(profile, { recursive: true, force: true }));

function chromium(extra: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--window-size=1200,900', ...extra, pathToFileURL(HTML).href],
    { encoding: 'utf8', timeout: 90_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Decodes an 8-bit RGB/RGBA non-interlaced PNG (what chromium writes) into width, height and pixels. */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; pixels: Buffer } {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth');
      assert.equal(data[12], 0, 'interlace');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x] ?? 0;
      const a = x >= channels ? (pixels[y * stride + x - channels] ?? 0) : 0;
      const b = y > 0 ? (pixels[(y - 1) * stride + x] ?? 0) : 0;
      const c = x >= channels && y > 0 ? (pixels[(y - 1) * stride + x - channels] ?? 0) : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function countColour(png: ReturnType<typeof decodePng>, hex: string): number {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    if (Math.abs((png.pixels[i] ?? 0) - r) <= 2 && Math.abs((png.pixels[i + 1] ?? 0) - g) <= 2 && Math.abs((png.pixels[i + 2] ?? 0) - b) <= 2) n++;
  }
  return n;
}

describe('tollgate report --html', () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const r = await runReport(['spans.collector.jsonl', '--html', HTML]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, `tollgate report: wrote ${HTML}\n`);
    // The text report still goes to stdout.
    assert.match(r.stdout, /^tollgate report: spans\.collector\.jsonl\n/);
  });

  it('writes one self-contained file: inline CSS and SVG, no script, no external resource', () => {
    const html = readFileSync(HTML, 'utf8');
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<link|<img|<iframe|@import|url\(/i);
    // The only URL is the SVG namespace, which is an identifier, never fetched.
    assert.deepEqual([...new Set(html.match(/https?:\/\/[^"'\s)]+/g))], ['http://www.w3.org/2000/svg']);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/);
    for (const id of ['chart-agent-day', 'chart-model', 'chart-task-type']) assert.match(html, new RegExp(`<svg id="${id}"`));
    // Stacked bars: one segment per priced (agent, day): researcher x2, classifier x2, writer-svc, outliner.
    const agentDay = /<svg id="chart-agent-day"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    assert.equal(agentDay.match(/<rect class="bar"/g)?.length, 6);
    // Models with spend: 5 (the unpriced and the blocked-only model have none to draw).
    const models = /<svg id="chart-model"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    assert.equal(models.match(/<rect class="bar"/g)?.length, 5);
    assert.match(models, /<title>claude-sonnet-4-5-20250929: \$0\.050700<\/title>/);
  });

  it('escapes names taken from the file', () => {
    const agg = new SpanAggregator();
    agg.add({
      traceId: 't',
      spanId: 's',
      parentSpanId: '',
      name: 'chat',
      startTimeMillis: Date.UTC(2026, 0, 1),
      endTimeMillis: Date.UTC(2026, 0, 1),
      statusCode: 0,
      attributes: new Map<string, string | number>([
        ['gen_ai.operation.name', 'chat'],
        ['gen_ai.agent.name', '<script>alert("x")</script>'],
        ['gen_ai.request.model', `m'"&`],
        ['tollgate.cost.usd', 1],
      ]),
      resource: new Map(),
    });
    const html = renderReportHtml(reportFromAggregate(agg.result(), { lines: 1, skippedLines: 0, gzip: false }), '<file>');
    assert.doesNotMatch(html, /<script|<file>|m'"&/);
    assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
    assert.match(html, /m&#39;&quot;&amp;/);
  });

  it('renders in headless chromium: the DOM holds the charts and the screenshot shows the bars', () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (scripts/provision.sh, the first step of npm test, does it)`);
    const dom = chromium(['--dump-dom']);
    assert.equal(dom.status, 0, dom.stderr);
    for (const id of ['chart-agent-day', 'chart-model', 'chart-task-type']) assert.match(dom.stdout, new RegExp(`<svg id="${id}"`));
    // 6 agent-day segments, 5 models, 5 task types (draft, research, outline, classify, -).
    assert.equal(dom.stdout.match(/<rect class="bar"/g)?.length, 6 + 5 + 5);
    assert.match(dom.stdout, /<td>13,900<\/td>/);

    rmSync(PNG, { force: true });
    const shot = chromium([`--screenshot=${PNG}`]);
    assert.equal(shot.status, 0, shot.stderr);
    const bytes = readFileSync(PNG);
    assert.ok(bytes.length > 20_000, `screenshot is only ${bytes.length} bytes`);
    const png = decodePng(bytes);
    assert.deepEqual([png.width, png.height], [1200, 900]);
    // The largest bars are painted in the first palette colours (blue #0072B2, orange #E69F00).
    assert.ok(countColour(png, '#0072B2') > 5_000, `blue pixels: ${countColour(png, '#0072B2')}`);
    assert.ok(countColour(png, '#E69F00') > 2_000, `orange pixels: ${countColour(png, '#E69F00')}`);
  });
});
