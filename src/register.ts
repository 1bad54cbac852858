/**
 * `import 'tollgate/register'` or `node --import tollgate/register app.js`:
 * starts tollgate from the standard OTEL_* and TOLLGATE_* env vars, with no code.
 *
 * For ES modules the import-in-the-middle loader hook is registered first,
 * limited to the modules tollgate's instrumentations hook (a catch-all hook has
 * broken `import('openai')` in peers; opentelemetry-js#7034 is the classic way
 * ESM apps end up with no spans). A bad setting throws ConfigError here, so the
 * process fails at start-up, never inside a user's call.
 */
import { diag } from '@opentelemetry/api';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { register } from 'node:module';
import { TIMED_OUT, within } from './internal/deadline.ts';
import { startTollgate, type Tollgate } from './start.ts';

const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

const tollgate: Tollgate = await startTollgate();
await waitForAllMessagesAcknowledged();

let flushing: Promise<'done' | 'late'> | undefined;

/** Flushes spans, metrics and spend once, for at most `exitTimeoutMillis`; warns when that runs out. */
async function flushOnce(): Promise<'done' | 'late'> {
  const limit = tollgate.config.exitTimeoutMillis;
  const flushed = tollgate.shutdown().then(
    () => 'done' as const,
    (err: unknown) => {
      diag.warn('tollgate: shutdown failed', err);
      return 'done' as const;
    },
  );
  // Ref'd on purpose: the deadline is what ends a flush stuck on an unreachable collector or ledger.
  const outcome = (await within(flushed, limit, { ref: true })) === TIMED_OUT ? 'late' : 'done';
  if (outcome === 'late') {
    const message = `tollgate: the flush at exit did not finish within ${limit} ms (TOLLGATE_EXIT_TIMEOUT_MILLIS): the collector or ledger is unreachable; spans or spend not yet written are lost`;
    diag.warn(message);
    process.emitWarning(message, { type: 'TollgateWarning', code: 'TOLLGATE_EXIT_TIMEOUT' });
    // emitWarning prints on the next tick; let it, before the process ends.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return outcome;
}

let signalled: NodeJS.Signals | undefined;

/**
 * Flushes (once, however many of beforeExit / SIGTERM / SIGINT arrive), then lets the
 * process end as it would have without tollgate: after `beforeExit` the loop simply
 * drains; after a signal nobody else handles, the signal is raised again so the exit
 * status is the signal's (also when it came during a flush begun at beforeExit). An app
 * with its own handler for the signal keeps control.
 */
async function flushAtExit(signal?: NodeJS.Signals): Promise<void> {
  signalled ??= signal;
  if (flushing !== undefined) return; // the flush in progress ends the process as below
  flushing = flushOnce();
  const outcome = await flushing;
  if (signalled !== undefined) {
    if (process.listenerCount(signalled) === 0) process.kill(process.pid, signalled);
  } else if (outcome === 'late') {
    // beforeExit: the app is done and only tollgate's stuck exports keep the loop alive.
    process.exit();
  }
}

// beforeExit fires when the loop drains (not on process.exit): flush then, so short scripts export their spans.
process.once('beforeExit', () => void flushAtExit());
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void flushAtExit(signal));
}

export { tollgate };
