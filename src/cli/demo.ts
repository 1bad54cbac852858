/**
 * `tollgate demo [--tasks N] [--ledger SPEC] [--json]`: the five-agent content pipeline
 * against the local stand-in provider, before and after tollgate's policy, then a runaway
 * agent hitting its cap. Progress goes to stderr, the report to stdout. The pipeline and
 * the report live in src/demo/.
 */
import { ConfigError } from '../errors.ts';
import { parseLedgerSpec } from '../ledger/index.ts';
import { buildReport, formatReport, formatTaskLine } from '../demo/report.ts';
import { runDemo } from '../demo/run.ts';
import type { CliIO, Command } from './io.ts';
import { createRequire } from 'node:module';

const USAGE = 'usage: tollgate demo [--tasks N] [--ledger memory|sqlite:<path>|redis://…] [--json]\n';

/** Tasks per phase when `--tasks` is not given: finishes in seconds on a small machine. */
export const DEFAULT_DEMO_TASKS = 6;

interface DemoArgs {
  readonly tasks: number;
  readonly ledger: string;
  readonly json: boolean;
}

function parseArgs(args: readonly string[]): DemoArgs {
  let tasks = DEFAULT_DEMO_TASKS;
  let ledger = 'memory';
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new ConfigError(`tollgate demo ${name}`, undefined, `a value after ${name}`);
      return v;
    };
    if (name === '--tasks') {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ConfigError('tollgate demo --tasks', raw, 'a whole number from 1 to 10000');
      tasks = n;
    } else if (name === '--ledger') {
      ledger = value();
      parseLedgerSpec(ledger, 'tollgate demo --ledger');
    } else if (name === '--json') {
      json = true;
    } else {
      throw new ConfigError('tollgate demo', arg, 'one of --tasks N, --ledger SPEC, --json');
    }
  }
  return { tasks, ledger, json };
}

export const demo: Command = async (args, io: CliIO) => {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const options = parseArgs(args);
  // The demo drives the real SDK clients; in a repo clone they are devDependencies, in an
  // installed tollgate they are the user's own. Say so plainly instead of a stack trace.
  const missing = ['openai', '@anthropic-ai/sdk'].filter((name) => !resolvable(name));
  if (missing.length > 0) {
    io.stderr.write(`tollgate demo runs the real SDK clients; install them first: npm install ${missing.join(' ')}\n`);
    return 1;
  }
  const started = Date.now();
  io.stderr.write(
    `tollgate demo: a five-agent content pipeline (classify -> research -> outline -> draft -> validate) on ${options.tasks} tasks,\n` +
      `real openai and @anthropic-ai/sdk clients against a local stand-in provider, ledger ${options.ledger}.\n`,
  );
  const headings: Record<string, string> = {
    before: 'before: every step on the top model, no prompt caching, no max_tokens ceilings, no caps',
    after: 'after: routing by difficulty, stable prompt prefix + cache_control, max_tokens ceilings, per-agent daily caps',
    runaway: 'runaway: the "after" settings, with the validate agent stuck in a retry loop',
  };
  const run = await runDemo({
    tasks: options.tasks,
    ledger: options.ledger,
    env: io.env,
    onPhase: (phase) => io.stderr.write(`\n${headings[phase] ?? phase}\n`),
    onTask: (phase, outcome, index) => io.stderr.write(`${formatTaskLine(phase, outcome, index, options.tasks)}\n`),
    onOutput: (text) => io.stderr.write(text),
  });
  const report = buildReport(run);
  if (options.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else io.stdout.write(formatReport(report));
  io.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  const failed = Object.values(run.phases).some((p) => p.result.tasks.some((t) => t.steps.some((s) => s.status === 'failed')));
  if (failed) {
    io.stderr.write('tollgate demo: some steps failed (see above)\n');
    return 1;
  }
  return 0;
};

function resolvable(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}
