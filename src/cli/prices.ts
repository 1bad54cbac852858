/**
 * `tollgate prices [QUERY] [--provider P] [--json]`: the effective price table
 * (TOLLGATE_PRICES overrides first, then the built-in prices), optionally filtered.
 * `tollgate prices --compare FILE [--threshold PCT] [--at ISO]`: the models whose rates
 * differ from another table in LiteLLM's JSON format.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TollgateError } from '../errors.ts';
import { comparePrices } from '../pricing/compare.ts';
import { BUILTIN_PRICES_INFO, createPriceTable } from '../pricing/index.ts';
import type { PriceLookup, PriceTable } from '../pricing/index.ts';
import type { CliIO, Command } from './io.ts';

const HELP = `usage: tollgate prices [QUERY] [--provider P] [--json]
       tollgate prices --compare FILE [--threshold PCT] [--at ISO-TIME] [--json]

Prints the effective price table in USD per million tokens: TOLLGATE_PRICES overrides
first, then the built-in prices. QUERY keeps the models whose name or provider contains
it, plus the price a model name as seen on a span resolves to (e.g. a dated snapshot).
Base rates are printed; the "validity" column lists dated prices and UTC time-of-day
windows, "serviceTiers" the flex / priority rates.

--compare FILE lists the models whose input or output rate differs by more than
--threshold percent (default 1) from FILE, a table in LiteLLM's JSON format
(model_prices_and_context_window.json), comparing the rates in force at --at (default:
now). "dated" means FILE has one of the model's other dated / windowed prices.
`;

function describeValidity(p: PriceLookup['price']): string {
  return (p.when ?? [])
    .map((w) => `${w.startDate !== undefined ? `from ${w.startDate}` : `${w.startTime ?? ''}-${w.endTime ?? ''} UTC`}: ${w.input}/${w.output}`)
    .join('; ');
}

function describeServiceTiers(p: PriceLookup['price']): string {
  return Object.entries(p.serviceTiers ?? {})
    .map(([tier, r]) => `${tier}: ${r.input}/${r.output}`)
    .join('; ');
}

function compare(table: PriceTable, file: string, threshold: number, at: number, json: boolean, io: CliIO): number {
  let other: unknown;
  try {
    other = JSON.parse(readFileSync(resolve(io.cwd, file), 'utf8'));
  } catch (err) {
    io.stderr.write(`tollgate prices: cannot read ${file} as JSON: ${(err as Error).message}\n`);
    return 1;
  }
  if (typeof other !== 'object' || other === null || Array.isArray(other)) {
    io.stderr.write(`tollgate prices: ${file} is not a table in LiteLLM's format (a JSON object of model -> rates)\n`);
    return 1;
  }
  const { shared, drifts } = comparePrices(table, other as Record<string, unknown>, threshold, at);
  if (json) {
    io.stdout.write(`${JSON.stringify({ shared, threshold, at: new Date(at).toISOString(), drifts }, null, 2)}\n`);
    return 0;
  }
  const header = ['provider', 'model', 'ours in/out', 'theirs in/out', 'diff %', 'why'];
  const body = drifts.map((d) => [
    d.provider,
    d.model,
    `${d.ours.input}/${d.ours.output}`,
    `${d.theirs.input}/${d.theirs.output}`,
    String(d.diffPercent),
    d.reason === 'dated' ? `dated: theirs is our ${d.matches ?? ''} price` : 'differs: one table is stale or wrong',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  io.stdout.write(
    `${drifts.length} of ${shared} models both tables price differ by more than ${threshold} % (rates in force at ${new Date(at).toISOString()}; USD per million tokens)\n` +
      (drifts.length === 0 ? '' : `${row(header, widths)}\n${body.map((r) => row(r, widths)).join('\n')}\n`),
  );
  return 0;
}

function num(n: number | undefined): string {
  return n === undefined ? '-' : String(n);
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
}

/** The `prices` subcommand. Exit codes: 0 printed, 1 nothing matched or bad price file, 2 bad arguments. */
export const prices: Command = (args: readonly string[], io: CliIO): Promise<number> => {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        provider: { type: 'string' },
        json: { type: 'boolean' },
        compare: { type: 'string' },
        threshold: { type: 'string' },
        at: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.stderr.write(`tollgate prices: ${(err as Error).message}\n\n${HELP}`);
    return Promise.resolve(2);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout.write(HELP);
    return Promise.resolve(0);
  }
  if (positionals.length > 1) {
    io.stderr.write(`tollgate prices: expected at most one QUERY, got ${positionals.length}: ${positionals.join(' ')}\n\n${HELP}`);
    return Promise.resolve(2);
  }
  const query = positionals[0]?.trim().toLowerCase();
  const provider = values.provider?.toLowerCase();

  const pricesFile = io.env.TOLLGATE_PRICES;
  let table;
  try {
    table = createPriceTable(pricesFile === undefined || pricesFile === '' ? {} : { overridesPath: resolve(io.cwd, pricesFile) });
  } catch (err) {
    if (err instanceof TollgateError) {
      io.stderr.write(`${err.message}\n`);
      return Promise.resolve(1);
    }
    throw err;
  }

  if (values.compare !== undefined) {
    const threshold = values.threshold === undefined ? 1 : Number(values.threshold);
    if (!Number.isFinite(threshold) || threshold < 0 || values.threshold?.trim() === '') {
      io.stderr.write(`tollgate prices: --threshold must be a percentage >= 0, got "${values.threshold ?? ''}"\n\n${HELP}`);
      return Promise.resolve(2);
    }
    const at = values.at === undefined ? Date.now() : Date.parse(values.at);
    if (Number.isNaN(at)) {
      io.stderr.write(`tollgate prices: --at must be an ISO 8601 time such as 2027-01-01T00:00:00Z, got "${values.at ?? ''}"\n\n${HELP}`);
      return Promise.resolve(2);
    }
    return Promise.resolve(compare(table, values.compare, threshold, at, values.json === true, io));
  }

  const resolved = query === undefined ? undefined : provider === undefined ? table.find(query) : table.find(query, provider);
  const same = (a: PriceLookup, b: PriceLookup | undefined): boolean => b !== undefined && a.price.provider === b.price.provider && a.price.model === b.price.model;
  let resolvedEntry: PriceLookup | undefined;
  const rows: PriceLookup[] = [];
  for (const e of table.entries()) {
    if (same(e, resolved)) resolvedEntry ??= e;
    if (provider !== undefined && e.price.provider.toLowerCase() !== provider) continue;
    if (query !== undefined && !same(e, resolved) && !e.price.model.toLowerCase().includes(query) && !e.price.provider.toLowerCase().includes(query)) continue;
    rows.push(e);
  }
  // The entry a name resolves to is listed first (with its validity), not the price resolved for now.
  const first = resolvedEntry ?? resolved;
  if (first !== undefined && !rows.includes(first)) rows.unshift(first);
  if (rows.length === 0) {
    io.stderr.write(`tollgate prices: no price matches "${positionals[0] ?? ''}"${provider === undefined ? '' : ` for provider ${provider}`}\n`);
    return Promise.resolve(1);
  }

  if (values.json === true) {
    const out = rows.map(({ price, source }) => ({ ...price, source }));
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return Promise.resolve(0);
  }
  const header = ['provider', 'model', 'input', 'output', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'maxOutput', 'source', 'tiers', 'validity', 'serviceTiers'];
  const body = rows.map(({ price: p, source }) => [
    p.provider,
    p.model,
    num(p.input),
    num(p.output),
    num(p.cacheRead),
    num(p.cacheWrite),
    num(p.cacheWrite1h),
    num(p.maxOutputTokens),
    source,
    (p.tiers ?? []).map((t) => `>${t.aboveInputTokens}: ${t.input}/${t.output}`).join('; ') || '-',
    describeValidity(p) || '-',
    describeServiceTiers(p) || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  io.stdout.write(
    `USD per million tokens; built-in prices from ${BUILTIN_PRICES_INFO.source}, as of ${BUILTIN_PRICES_INFO.asOf}` +
      `${pricesFile === undefined || pricesFile === '' ? '' : `; overrides from ${pricesFile}`}\n` +
      `${row(header, widths)}\n${body.map((r) => row(r, widths)).join('\n')}\n`,
  );
  return Promise.resolve(0);
};
