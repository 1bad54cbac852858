/**
 * One warn-once path for all of tollgate: a warning through the OTel diag logger the first time
 * its key is seen, silence after. The set of keys is capped, so a key built from untrusted input
 * (a model name, an error message) cannot grow it without bound: past the cap a key warns every
 * time rather than being remembered.
 */
import { diag } from '@opentelemetry/api';

/** How many distinct keys are remembered. */
const MAX_KEYS = 512;
const warned = new Set<string>();

/**
 * Warns through `diag.warn` once per `key`. Returns true when it warned.
 * @param key what makes two warnings the same one (e.g. the call site of a fault)
 */
export function warnOnce(key: string, message: string, ...args: unknown[]): boolean {
  if (warned.has(key)) return false;
  if (warned.size < MAX_KEYS) warned.add(key);
  diag.warn(message, ...args);
  return true;
}

/**
 * Reports a fault in tollgate's own code once per `where` (the user's call goes on): telemetry
 * never breaks the call it observes.
 */
export function reportFault(where: string, error: unknown): void {
  warnOnce(`fault:${where}`, `tollgate: internal fault in ${where}; the LLM call is not affected`, error);
}
