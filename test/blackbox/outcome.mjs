// What the black-box apps report per call: whether it resolved, the error's name, how long it took.
import { performance } from 'node:perf_hooks';

export async function outcome(fn) {
  const started = performance.now();
  try {
    await fn();
    return { ok: true, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, error: error.name, ms: performance.now() - started };
  }
}
