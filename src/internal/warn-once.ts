/**
 * One warn-once for all of tollgate: a warning through the OTel diag logger the first time its
 * key is seen, silence after. The set of keys is capped, so a key built from untrusted input (a
 * model name, an error message) cannot grow it without bound: when full it is emptied, and a key
 * seen again warns once more.
 *
 * `warnOnce` / `reportFault` share the process's set; a component whose warnings are its own
 * (each price table warns about its unknown models, each policy about its faults) holds a
 * {@link WarnOnce}.
 */
import { diag } from '@opentelemetry/api';

/** How many distinct keys a {@link WarnOnce} remembers unless told otherwise. */
export const DEFAULT_MAX_KEYS = 512;

/** A capped set of keys already warned about. */
export class WarnOnce {
  readonly #seen = new Set<string>();
  readonly #maxKeys: number;

  constructor(maxKeys = DEFAULT_MAX_KEYS) {
    this.#maxKeys = maxKeys;
  }

  /** True the first time `key` is seen (since the set was last emptied), false after. */
  first(key: string): boolean {
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.#maxKeys) this.#seen.clear();
    this.#seen.add(key);
    return true;
  }

  /** Warns through `diag.warn` once per `key`. Returns true when it warned. */
  warn(key: string, message: string, ...args: unknown[]): boolean {
    if (!this.first(key)) return false;
    diag.warn(message, ...args);
    return true;
  }
}

const processWide = new WarnOnce();

/**
 * Warns through `diag.warn` once per `key` in the process. Returns true when it warned.
 * @param key what makes two warnings the same one (e.g. the call site of a fault)
 */
export function warnOnce(key: string, message: string, ...args: unknown[]): boolean {
  return processWide.warn(key, message, ...args);
}

/**
 * Reports a fault in tollgate's own code once per `where` (the user's call goes on): telemetry
 * never breaks the call it observes.
 */
export function reportFault(where: string, error: unknown): void {
  warnOnce(`fault:${where}`, `tollgate: internal fault in ${where}; the LLM call is not affected`, error);
}
