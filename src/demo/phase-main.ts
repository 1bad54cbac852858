/**
 * Entry point of a demo phase's child process (spawned by ./run.ts with an IPC channel).
 * argv[2] is the PhaseRequest as JSON; the child sends `task` messages while it runs
 * and one `done` (or `error`) message at the end.
 */
import { runPhase, type PhaseRequest, type PhaseResult } from './phase.ts';
import type { TaskOutcome } from './pipeline.ts';

/** Messages from a phase child to the parent. */
export type PhaseMessage =
  | { readonly kind: 'task'; readonly index: number; readonly outcome: TaskOutcome }
  | { readonly kind: 'done'; readonly result: PhaseResult }
  | { readonly kind: 'error'; readonly message: string };

function send(message: PhaseMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      process.stdout.write(`${JSON.stringify(message)}\n`);
      resolve();
      return;
    }
    process.send(message, () => resolve());
  });
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as PhaseRequest;
  const pending: Promise<void>[] = [];
  try {
    const result = await runPhase(request, process.env, (outcome, index) => {
      pending.push(send({ kind: 'task', index, outcome }));
    });
    await Promise.all(pending);
    await send({ kind: 'done', result });
  } catch (err) {
    await Promise.all(pending);
    await send({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
  }
  process.disconnect?.();
}

await main();
