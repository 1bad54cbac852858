/**
 * Reading environment variables the way OpenTelemetry reads its own: a variable set to
 * the empty string (or only whitespace) counts as unset. Deployment templates often
 * render an unused variable as `TOLLGATE_PRICES=`; that must mean "no override file",
 * not a start-up error, for tollgate's variables and for the OTEL_* ones tollgate parses.
 */

/** The trimmed value of `name` in `env`, or undefined when it is unset, empty or blank. */
export function envValue(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const value = raw.trim();
  return value === '' ? undefined : value;
}
