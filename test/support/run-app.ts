/**
 * Runs a test app as a user runs it: `node --import tollgate/register <app>` from the repository
 * root (the built package, resolved through its own `exports`), with only the env given (and PATH).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface AppRun {
  readonly code: number | null;
  /** Set when the app did not exit by itself within the time limit and was killed. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `app` (a path from the repository root) under tollgate/register; kills it after `limitMs`. */
export function runRegisteredApp(app: string, env: Record<string, string>, limitMs = 30_000): Promise<AppRun> {
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
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The JSON object the app printed as its last stdout line. */
export function lastJsonLine<T>(run: AppRun): T {
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as T;
}
