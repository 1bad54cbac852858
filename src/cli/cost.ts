/**
 * `tollgate cost --model M [--provider P] --input N --output N [--cache-read N]
 * [--cache-write N] [--cache-write-1h N] [--reasoning N] [--batch] [--at ISO]
 * [--service-tier T] [--json]`:
 * quotes one call with the effective price table (built-in + TOLLGATE_PRICES).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TollgateError } from '../errors.ts';
import { computeCost, createPriceTable } from '../pricing/index.ts';
import type { CliIO, Command } from './io.ts';

const HELP = `usage: tollgate cost --model M [--provider P] --input N --output N [options]

Quotes one call in USD with the effective price table (built-in prices + the
TOLLGATE_PRICES override file, when set). Counts follow the GenAI conventions:
  --input N           all input tokens, INCLUDING cache reads and writes
  --output N          all output tokens, INCLUDING reasoning tokens
  --cache-read N      part of --input read from the prompt cache
  --cache-write N     part of --input written to the cache with the default (5-minute) TTL
  --cache-write-1h N  part of --input written to the cache with a 1-hour TTL
  --reasoning N       part of --output spent on reasoning
  --provider P        provider (openai, anthropic, aws.bedrock, ...) to resolve the model with
  --batch             priced as a batch call
  --at ISO-TIME       price in force for a call starting then (dated prices, UTC
                      time-of-day windows), e.g. 2027-01-01T00:00:00Z; default: now
  --service-tier T    the call's service tier (flex, priority) where the model has its rates
  --json              print {"model","provider","inputUsd","outputUsd","cacheReadUsd","cacheWriteUsd","totalUsd","source"}
`;

class UsageError extends Error {}

function tokens(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--${flag} must be a whole number of tokens >= 0, got "${value}"`);
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} is too large: ${value}`);
  return n;
}

function usd(n: number): string {
  return `$${n.toFixed(6)}`;
}

/** The `cost` subcommand. Exit codes: 0 quoted, 1 bad price file, 2 bad arguments. */
export const cost: Command = (args: readonly string[], io: CliIO): Promise<number> => {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      allowPositionals: false,
      strict: true,
      options: {
        model: { type: 'string' },
        provider: { type: 'string' },
        input: { type: 'string' },
        output: { type: 'string' },
        'cache-read': { type: 'string' },
        'cache-write': { type: 'string' },
        'cache-write-1h': { type: 'string' },
        reasoning: { type: 'string' },
        batch: { type: 'boolean' },
        at: { type: 'string' },
        'service-tier': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    io.stderr.write(`tollgate cost: ${(err as Error).message}\n\n${HELP}`);
    return Promise.resolve(2);
  }
  if (values.help === true) {
    io.stdout.write(HELP);
    return Promise.resolve(0);
  }
  let usage;
  let at = Date.now();
  const model = values.model?.trim() ?? '';
  try {
    if (model === '') throw new UsageError('--model is required');
    if (values.at !== undefined) {
      // An ISO time with a zone (Z or an offset): a bare date-time would be read in the local zone.
      at = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(values.at.trim()) || /^\d{4}-\d{2}-\d{2}$/.test(values.at.trim()) ? Date.parse(values.at.trim()) : Number.NaN;
      if (Number.isNaN(at)) throw new UsageError(`--at must be an ISO 8601 time with a zone, such as 2027-01-01T00:00:00Z, got "${values.at}"`);
    }
    if (values.input === undefined) throw new UsageError('--input is required (all input tokens, including cache reads and writes)');
    if (values.output === undefined) throw new UsageError('--output is required (all output tokens, including reasoning)');
    const input = tokens('input', values.input);
    const output = tokens('output', values.output);
    const cacheRead = tokens('cache-read', values['cache-read']);
    const cacheWrite5m = tokens('cache-write', values['cache-write']);
    const cacheWrite1h = tokens('cache-write-1h', values['cache-write-1h']);
    const reasoning = tokens('reasoning', values.reasoning);
    if (cacheRead + cacheWrite5m + cacheWrite1h > input) {
      throw new UsageError(`--cache-read + --cache-write + --cache-write-1h (${cacheRead + cacheWrite5m + cacheWrite1h}) exceed --input (${input}): input counts include cache tokens`);
    }
    if (reasoning > output) throw new UsageError(`--reasoning (${reasoning}) exceeds --output (${output}): output counts include reasoning tokens`);
    usage = {
      inputTokens: input,
      outputTokens: output,
      cacheReadTokens: cacheRead,
      cacheWriteTokens: cacheWrite5m + cacheWrite1h,
      cacheWrite1hTokens: cacheWrite1h,
      reasoningTokens: reasoning,
      batch: values.batch === true,
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`tollgate cost: ${err.message}\n\n${HELP}`);
    return Promise.resolve(2);
  }

  const pricesFile = io.env.TOLLGATE_PRICES;
  let lookup;
  try {
    const table = createPriceTable(pricesFile === undefined || pricesFile === '' ? {} : { overridesPath: resolve(io.cwd, pricesFile) });
    const tier = values['service-tier']?.trim() || undefined;
    lookup = table.find(model, values.provider, at, tier) ?? table.lookup(model, values.provider, at, tier);
  } catch (err) {
    if (err instanceof TollgateError) {
      io.stderr.write(`${err.message}\n`);
      return Promise.resolve(1);
    }
    throw err;
  }
  const { price, source } = lookup;
  const c = computeCost(usage, price);
  if (source === 'fallback') {
    io.stderr.write(
      `tollgate cost: warning: no price known for "${model}"; quoted at ${price.provider}'s most expensive known rates. ` +
        'Add it to a TOLLGATE_PRICES file to price it exactly.\n',
    );
  }
  if (values.json === true) {
    io.stdout.write(
      `${JSON.stringify({
        model,
        provider: price.provider,
        inputUsd: c.inputUsd,
        outputUsd: c.outputUsd,
        cacheReadUsd: c.cacheReadUsd,
        cacheWriteUsd: c.cacheWriteUsd,
        totalUsd: c.totalUsd,
        source,
        ...(values.at === undefined ? {} : { at: new Date(at).toISOString() }),
        ...(price.serviceTier === undefined ? {} : { serviceTier: price.serviceTier }),
      })}\n`,
    );
    return Promise.resolve(0);
  }
  const priced = price.model === model ? '' : ` as ${price.model}`;
  io.stdout.write(
    `${model} (${price.provider}${priced}, ${source} price${price.serviceTier === undefined ? '' : `, ${price.serviceTier} tier`}${usage.batch ? ', batch' : ''}${values.at === undefined ? '' : `, in force at ${new Date(at).toISOString()}`})\n` +
      `  input        ${usd(c.inputUsd)}\n` +
      `  cache read   ${usd(c.cacheReadUsd)}\n` +
      `  cache write  ${usd(c.cacheWriteUsd)}\n` +
      `  output       ${usd(c.outputUsd)}\n` +
      `  total        ${usd(c.totalUsd)}\n`,
  );
  return Promise.resolve(0);
};
