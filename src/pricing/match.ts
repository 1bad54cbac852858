/**
 * Model-name match rules of the compiled price data (the genai-prices `match` logic:
 * equals / starts_with / ends_with / contains / regex, combined with or / and).
 * Compiled once into closures; names are lowercased by the caller, so string
 * rules are lowercased here once instead of on every test.
 */

/** A match rule as stored in `data/prices.json`. */
export type MatchRule =
  | { readonly equals: string }
  | { readonly starts_with: string }
  | { readonly ends_with: string }
  | { readonly contains: string }
  | { readonly regex: string }
  | { readonly or: readonly MatchRule[] }
  | { readonly and: readonly MatchRule[] };

/** Tests a lowercased model name. */
export type Matcher = (name: string) => boolean;

/** Compiles a rule into a predicate over lowercased names. */
export function compileMatch(rule: MatchRule): Matcher {
  if ('or' in rule) {
    const parts = rule.or.map(compileMatch);
    return (name) => parts.some((p) => p(name));
  }
  if ('and' in rule) {
    const parts = rule.and.map(compileMatch);
    return (name) => parts.every((p) => p(name));
  }
  if ('equals' in rule) {
    const s = rule.equals.toLowerCase();
    return (name) => name === s;
  }
  if ('starts_with' in rule) {
    const s = rule.starts_with.toLowerCase();
    return (name) => name.startsWith(s);
  }
  if ('ends_with' in rule) {
    const s = rule.ends_with.toLowerCase();
    return (name) => name.endsWith(s);
  }
  if ('contains' in rule) {
    const s = rule.contains.toLowerCase();
    return (name) => name.includes(s);
  }
  // Names are lowercased before matching, so the upstream (case-sensitive) regexes run with `i`.
  const re = new RegExp(rule.regex, 'i');
  return (name) => re.test(name);
}

/** Compiles an override `match` glob (`*` = any run of characters) into a predicate over lowercased names. */
export function compileGlob(glob: string): Matcher {
  const lower = glob.toLowerCase();
  if (!lower.includes('*')) return (name) => name === lower;
  const source = lower
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}
