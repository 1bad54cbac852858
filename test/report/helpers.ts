/** Runs `tollgate report` in-process with captured output. */
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { report } from '../../src/cli/report.ts';

/** The fixtures folder, as a path. */
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** What a command run printed and returned. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function sink(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      callback();
    },
  });
}

/** Runs the report command with `cwd` as the working directory (defaults to the fixtures folder). */
export async function runReport(args: readonly string[], cwd: string = FIXTURES): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await report(args, { stdout: sink(out), stderr: sink(err), env: {}, cwd });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
