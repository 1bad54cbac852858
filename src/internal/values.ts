/**
 * Guards for untrusted values (wire payloads, span attributes, options): one copy of each,
 * shared by the instrumentations, the processor and the report.
 */

/** A plain object check that narrows for indexing (arrays excluded). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A finite non-negative number, else undefined (usage fields from the wire are untrusted).
 * Capped at Number.MAX_SAFE_INTEGER so that sums of counts (Anthropic's input = input + cache
 * read + cache creation) stay finite for an absurd report such as 1e308.
 */
export function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.min(value, Number.MAX_SAFE_INTEGER) : undefined;
}

/** A non-empty string, else undefined: an empty id, model or name says nothing. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** True for anything with a callable `then` (a promise from any realm or library). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}
