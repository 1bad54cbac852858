/**
 * `tollgate prices [QUERY] [--provider P] [--json]`: the effective price table
 * (TOLLGATE_PRICES overrides first, then the built-in prices), optionally filtered.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TollgateError } from '../errors.ts';
import { BUILTIN_PRICES_INFO, createPriceTable } from '../pricing/index.ts';
import type { PriceLookup } from '../pricing/index.ts';
import type { CliIO, Command } from './io.ts';

const HELP = `usage: tollgate prices [QUERY] [--provider P] [--json]

Prints the effective price table in USD per million tokens: TOLLGATE_PRICES overrides
first, then the built-in prices. QUERY keeps the models whose name or provider contains
it, plus the price a model name as seen on a span resolves to (e.g. a dated snapshot).
`;

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
      options: { provider: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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

  const resolved = query === undefined ? undefined : provider === undefined ? table.find(query) : table.find(query, provider);
  const rows: PriceLookup[] = [];
  for (const e of table.entries()) {
    if (provider !== undefined && e.price.provider.toLowerCase() !== provider) continue;
    if (query !== undefined && e !== resolved && !e.price.model.toLowerCase().includes(query) && !e.price.provider.toLowerCase().includes(query)) continue;
    rows.push(e);
  }
  if (resolved !== undefined && !rows.includes(resolved)) rows.unshift(resolved);
  if (rows.length === 0) {
    io.stderr.write(`tollgate prices: no price matches "${positionals[0] ?? ''}"${provider === undefined ? '' : ` for provider ${provider}`}\n`);
    return Promise.resolve(1);
  }

  if (values.json === true) {
    const out = rows.map(({ price, source }) => ({ ...price, source }));
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return Promise.resolve(0);
  }
  const header = ['provider', 'model', 'input', 'output', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'maxOutput', 'source', 'tiers'];
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
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  io.stdout.write(
    `USD per million tokens; built-in prices from ${BUILTIN_PRICES_INFO.source}, as of ${BUILTIN_PRICES_INFO.asOf}` +
      `${pricesFile === undefined || pricesFile === '' ? '' : `; overrides from ${pricesFile}`}\n` +
      `${row(header, widths)}\n${body.map((r) => row(r, widths)).join('\n')}\n`,
  );
  return Promise.resolve(0);
};
