/**
 * `tollgate report FILE [--json] [--html OUT]`: cost tables from spans saved as
 * OTLP JSON lines (the collector's file exporter output, or OTLP/HTTP JSON
 * request bodies one per line), plain or gzip.
 *
 * Exit codes: 0 the report was printed (skipped malformed lines are warnings on
 * stderr, with their line numbers and a count at the end); 1 the file cannot be
 * read, or holds no span at all (empty, or every line malformed); 2 bad usage.
 * A file with spans but no inference spans prints empty tables and exits 0.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TollgateError } from '../errors.ts';
import { renderReportHtml } from '../report/html.ts';
import { REPORT_INPUT_ERROR } from '../report/reader.ts';
import { buildReport } from '../report/report.ts';
import { formatReportText } from '../report/text.ts';
import type { CliIO, Command } from './io.ts';

/** Malformed lines printed one by one before the rest are only counted, so a garbage file cannot flood a terminal. */
const MAX_MALFORMED_SHOWN = 100;

const USAGE = `usage: tollgate report FILE [--json] [--html OUT.html]

Cost tables by agent, model, task type and UTC day from spans saved as OTLP JSON:
the collector's file exporter output, or OTLP/HTTP JSON request bodies, one per
line; gzip files are read as is. Large files are streamed.

  --json          print the report as JSON (shape documented in src/report/report.ts)
  --html OUT      also write a self-contained HTML page with charts to OUT
`;

interface ReportArgs {
  readonly file: string;
  readonly json: boolean;
  readonly html: string | undefined;
}

function parseArgs(args: readonly string[]): ReportArgs | string {
  let file: string | undefined;
  let json = false;
  let html: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--json') json = true;
    else if (arg === '--html') {
      const next = args[i + 1];
      if (next === undefined || next === '') return '--html needs an output file';
      html = next;
      i++;
    } else if (arg.startsWith('--html=')) {
      html = arg.slice('--html='.length);
      if (html === '') return '--html needs an output file';
    } else if (arg.startsWith('-') && arg !== '-') return `unknown option ${arg}`;
    else if (file === undefined) file = arg;
    else return `one FILE expected, got ${JSON.stringify(file)} and ${JSON.stringify(arg)}`;
  }
  if (file === undefined) return 'FILE is required';
  return { file, json, html };
}

/** The `report` subcommand. */
export const report: Command = async (args, io: CliIO) => {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    io.stderr.write(`tollgate report: ${parsed}\n\n${USAGE}`);
    return 2;
  }
  const path = resolve(io.cwd, parsed.file);
  let shown = 0;
  let result;
  try {
    result = await buildReport(path, {
      onMalformed: ({ line, reason }) => {
        shown++;
        if (shown <= MAX_MALFORMED_SHOWN) io.stderr.write(`tollgate report: ${parsed.file}:${line}: skipped: ${reason}\n`);
        else if (shown === MAX_MALFORMED_SHOWN + 1) io.stderr.write(`tollgate report: more malformed lines; only their count is shown below\n`);
      },
    });
  } catch (err) {
    if (err instanceof TollgateError && err.code === REPORT_INPUT_ERROR) {
      io.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { input } = result;
  if (input.skippedLines > 0) {
    io.stderr.write(`tollgate report: skipped ${input.skippedLines} malformed ${input.skippedLines === 1 ? 'line' : 'lines'} of ${input.lines}\n`);
  }
  if (input.spans === 0) {
    io.stderr.write(`tollgate report: no OTLP spans in ${parsed.file} (${input.lines} lines, ${input.skippedLines} skipped)\n`);
    return 1;
  }
  if (parsed.html !== undefined) {
    const out = resolve(io.cwd, parsed.html);
    await writeFile(out, renderReportHtml(result, parsed.file));
    io.stderr.write(`tollgate report: wrote ${parsed.html}\n`);
  }
  io.stdout.write(parsed.json ? `${JSON.stringify(result, null, 2)}\n` : formatReportText(result, parsed.file));
  return 0;
};
