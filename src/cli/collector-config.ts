/**
 * `tollgate collector-config [--prices FILE] [--out FILE]`: prints (or writes) the gateway
 * collector config, `collector-config/gateway.yaml` as shipped in this package. The gateway
 * prices spans with the tollgate processor built into its distribution
 * (`collector/tollgateprocessor`, see collector-config/README.md), which reads the built-in
 * table compiled into it; nothing is generated from the price table any more. With
 * `--prices FILE` (or `TOLLGATE_PRICES`) the override file is validated here with the SDK's
 * own loader and its absolute path written into the processor's `prices_file`, so the
 * collector prices with the same overrides as the SDK.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { envValue } from '../config/env.ts';
import { ConfigError } from '../errors.ts';
import { loadPriceOverrides } from '../pricing/overrides.ts';
import type { CliIO, Command } from './io.ts';

const USAGE = 'usage: tollgate collector-config [--prices FILE] [--out FILE]\n';

/** The shipped gateway config (src/cli -> and dist/cli -> the package root). */
const GATEWAY = new URL('../../collector-config/gateway.yaml', import.meta.url);
/** The processor's override-file line in gateway.yaml, filled from TOLLGATE_PRICES by the collector itself. */
const PRICES_LINE = 'prices_file: ${env:TOLLGATE_PRICES:-}';

interface Args {
  out?: string;
  prices?: string;
}

function parseArgs(args: readonly string[]): Args | string {
  const parsed: Args = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if (flag === '--help' || flag === '-h') return 'help';
    if (flag !== '--out' && flag !== '--prices') return `tollgate collector-config: unknown argument "${String(flag)}"`;
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) return `tollgate collector-config: ${flag} needs a file path`;
    parsed[flag.slice(2) as keyof Args] = value;
    i++;
  }
  return parsed;
}

/**
 * The gateway config with the processor's `prices_file` set to `pricesPath` (absolute), or
 * unchanged (the collector then reads `TOLLGATE_PRICES` from its own environment).
 * @throws ConfigError when the shipped gateway.yaml lacks the processor's prices_file line.
 */
export function gatewayConfig(gatewayYaml: string, pricesPath: string | undefined): string {
  if (!gatewayYaml.includes(PRICES_LINE)) throw new ConfigError('collector-config/gateway.yaml', 'no tollgate processor prices_file line', `a line "${PRICES_LINE}"`);
  if (pricesPath === undefined) return gatewayYaml;
  return gatewayYaml.replace(PRICES_LINE, `prices_file: ${JSON.stringify(pricesPath)}`);
}

/** Prints the gateway collector config; see the module comment for flags. */
export const collectorConfig: Command = async (args: readonly string[], io: CliIO): Promise<number> => {
  const parsed = parseArgs(args);
  if (parsed === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    io.stderr.write(`${parsed}\n${USAGE}`);
    return 2;
  }
  const given = parsed.prices ?? envValue(io.env, 'TOLLGATE_PRICES');
  const pricesPath = given === undefined ? undefined : resolve(io.cwd, given);
  // Same loader as the SDK: a file the SDK rejects never reaches the collector.
  if (pricesPath !== undefined) loadPriceOverrides(pricesPath);
  const text = gatewayConfig(await readFile(GATEWAY, 'utf8'), pricesPath);
  if (parsed.out !== undefined) {
    await writeFile(resolve(io.cwd, parsed.out), text);
    io.stderr.write(`wrote ${parsed.out}\n`);
    return 0;
  }
  io.stdout.write(text);
  return 0;
};
