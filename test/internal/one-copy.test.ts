/**
 * One place for each fact: the small helpers live in src/internal/ (values, money, UTC windows,
 * deadlines, warn-once) and nowhere else under src/. This scan keeps copies from coming back: a
 * local `str()` / `count()` / `isThenable()` / `isRecord()`, an inlined money or hrtime
 * conversion, calendar arithmetic, a hand-rolled timeout race, a private warned-keys set.
 * (Citations of files outside the repository are test/readme.test.ts's.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

interface Rule {
  readonly what: string;
  readonly pattern: RegExp;
  /** The file that owns the fact (src-relative), if in src/; and any allowed elsewhere, with why. */
  readonly home?: string;
  readonly allowed?: Readonly<Record<string, string>>;
}

const RULES: readonly Rule[] = [
  {
    what: 'a local copy of a value guard (use internal/values.ts)',
    pattern: /\b(?:function\s+(?:str|count|isThenable|isRecord)\s*[<(]|const\s+(?:str|count|isThenable|isRecord)\s*(?::[^=]+)?=\s*(?:\(|function\b|isRecord\b))/,
    home: 'internal/values.ts',
  },
  {
    what: 'an inline plain-object check (use isRecord from internal/values.ts)',
    pattern: /typeof (\w+) === 'object' && \1 !== null && !Array\.isArray\(\1\)/,
    home: 'internal/values.ts',
  },
  {
    what: 'an inlined nano-USD conversion (use internal/money.ts)',
    pattern: /[*/]\s*(?:1e9|1_000_000_000)\b|\bNANOS_PER_USD\s*[*/+-]|[*/]\s*NANOS_PER_USD\b/,
    home: 'internal/money.ts',
    allowed: { 'pricing/compile.ts': 'roundRate rounds a per-million rate to 9 decimals: no money is converted' },
  },
  {
    what: "hrtime arithmetic (use @opentelemetry/core's hrTimeToMilliseconds / hrTimeToSeconds)",
    pattern: /\[0\]\s*\*\s*(?:1000|1e3)\s*\+|\[1\]\s*\/\s*1e[69]\b/,
  },
  {
    what: 'UTC calendar arithmetic (use internal/utc.ts)',
    pattern: /\bDate\.UTC\(|\b86_?400_?000\b|toISOString\(\)\.slice\(0, 10\)/,
    home: 'internal/utc.ts',
  },
  {
    what: 'a hand-rolled timeout race (use within / withTimeout from internal/deadline.ts)',
    pattern: /\bPromise\.race\(|\bclearTimeout\(/,
    home: 'internal/deadline.ts',
    allowed: { 'demo/run.ts': "a watchdog that kills the demo's child process, not a wait on a promise" },
  },
  {
    what: 'a private warned-keys set (use WarnOnce / warnOnce from internal/warn-once.ts)',
    pattern: /\b(?:warned|printed|reported)\w*\s*=\s*new Set\b|#warned\b/,
    home: 'internal/warn-once.ts',
  },
];

test('every shared helper has one copy, in src/internal/', () => {
  const files = sources(SRC);
  assert.ok(files.length > 100, `scanned ${files.length} files`);
  const found: string[] = [];
  for (const file of files) {
    const rel = relative(SRC, file).split('\\').join('/');
    const lines = readFileSync(file, 'utf8').split('\n');
    for (const rule of RULES) {
      if (rel === rule.home || rule.allowed?.[rel] !== undefined) continue;
      lines.forEach((line, i) => {
        if (rule.pattern.test(line)) found.push(`src/${rel}:${i + 1}: ${rule.what}: ${line.trim()}`);
      });
    }
  }
  assert.deepEqual(found, []);
});

test('each rule catches the copy it is about, and its home holds the fact', () => {
  const samples: Record<string, string> = {
    'a local copy of a value guard (use internal/values.ts)': 'function str(v: unknown): string | undefined {',
    'an inline plain-object check (use isRecord from internal/values.ts)': "return typeof v === 'object' && v !== null && !Array.isArray(v);",
    'an inlined nano-USD conversion (use internal/money.ts)': '`spend $${nanos / 1e9}`',
    "hrtime arithmetic (use @opentelemetry/core's hrTimeToMilliseconds / hrTimeToSeconds)": 'const ms = t[0] * 1000 + t[1] / 1e6;',
    'UTC calendar arithmetic (use internal/utc.ts)': 'const reset = Date.UTC(y, m, d + 1);',
    'a hand-rolled timeout race (use within / withTimeout from internal/deadline.ts)': 'await Promise.race([p, late]);',
    'a private warned-keys set (use WarnOnce / warnOnce from internal/warn-once.ts)': 'const warned = new Set<string>();',
  };
  for (const rule of RULES) {
    const sample = samples[rule.what];
    assert.ok(sample !== undefined, `a sample for: ${rule.what}`);
    assert.match(sample, rule.pattern, rule.what);
  }
  // The homes exist and hold what the rules send readers to.
  const home = (f: string): string => readFileSync(join(SRC, f), 'utf8');
  for (const name of ['str', 'count', 'isThenable', 'isRecord']) assert.match(home('internal/values.ts'), new RegExp(`export function ${name}\\b`));
  for (const name of ['usdToNanos', 'usdToNanosCeil', 'usdToNanosFloor', 'nanosToUsd']) assert.match(home('internal/money.ts'), new RegExp(`export function ${name}\\b`));
  for (const name of ['utcDayStart', 'utcMonthEnd', 'utcDate']) assert.match(home('internal/utc.ts'), new RegExp(`export function ${name}\\b`));
  for (const name of ['within', 'withTimeout']) assert.match(home('internal/deadline.ts'), new RegExp(`export function ${name}\\b`));
  assert.match(home('internal/warn-once.ts'), /export class WarnOnce\b/);
});
