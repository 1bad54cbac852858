/**
 * Runs a test app the way a user runs a service with tollgate: `node --import tollgate/register app`
 * from the repository root (the built package, dist/), with only PATH and the given env. A process
 * that does not exit by itself within `killAfterMs` is killed (`signal` then says so). The default
 * leaves room for a slow start: under `--import tollgate/register` the ESM loader hook runs for every
 * module, and importing `@mistralai/mistralai` (1,200+ files) took 8 to 10 s on the loaded test machine.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** How the app ended and what it printed. */
export interface AppRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `app` (a path from the repository root) under `--import tollgate/register`. */
export function runRegisteredApp(app: string, env: Readonly<Record<string, string>>, killAfterMs = 90_000): Promise<AppRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tollgate/register', app], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The JSON object an app printed on its last stdout line. */
export function lastJsonLine<T>(run: AppRun): T {
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as T;
}
