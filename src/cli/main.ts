#!/usr/bin/env node
/**
 * The `tollgate` command. Subcommands load lazily so `tollgate cost` never pays
 * for the demo's SDK clients or the report's parsers.
 */
import { TollgateError } from '../errors.ts';
import type { CliIO, Command } from './io.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'run the five-agent pipeline before/after on embedded defaults', load: async () => (await import('./demo.ts')).demo },
  cost: { summary: 'quote one call: --model M --input N --output N [...]', load: async () => (await import('./cost.ts')).cost },
  prices: { summary: 'print the effective price table [QUERY]', load: async () => (await import('./prices.ts')).prices },
  report: { summary: 'cost tables from spans saved as OTLP JSON: FILE [--json] [--html out.html]', load: async () => (await import('./report.ts')).report },
  'collector-config': { summary: 'print the gateway collector config (the tollgate processor prices spans; --prices FILE sets its overrides)', load: async () => (await import('./collector-config.ts')).collectorConfig },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(17)} ${c.summary}`);
  return `usage: tollgate <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Runs the CLI with explicit arguments and IO; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    io.stderr.write(`tollgate: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command(rest, io);
  } catch (err) {
    if (err instanceof TollgateError) {
      io.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly || process.argv[1]?.endsWith('/tollgate') === true || process.argv[1]?.endsWith('/.bin/tollgate') === true) {
  const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
  process.exitCode = code;
}
