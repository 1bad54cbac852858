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
import { startTollgate, type Tollgate } from './start.ts';

const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

const tollgate: Tollgate = await startTollgate();
await waitForAllMessagesAcknowledged();

let exiting = false;
async function flushAndExit(signal?: NodeJS.Signals): Promise<void> {
  if (exiting) return;
  exiting = true;
  try {
    await tollgate.shutdown();
  } catch (err) {
    diag.warn('tollgate: shutdown failed', err);
  }
  if (signal !== undefined) {
    // Re-raise with the default behaviour so the exit code stays what the signal means.
    process.kill(process.pid, signal);
  }
}

// beforeExit fires when the loop drains (not on process.exit): flush then, so short scripts export their spans.
process.once('beforeExit', () => void flushAndExit());
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  // Only take over a signal nobody else handles: an app with its own handler keeps full control.
  if (process.listenerCount(signal) === 0) process.once(signal, () => void flushAndExit(signal));
}

export { tollgate };
