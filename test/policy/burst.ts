/**
 * A burst of calls at once through the real `openai` SDK, tollgate's instrumentation and the
 * budget policy, against the stand-in provider: what utilization.test.ts measures, in one
 * process or (burst-child.ts) in each of several processes sharing one ledger.
 *
 * Prompts are made of common 4-character words (` the`, ` and`, …): each is one o200k token
 * and four characters, so the policy's exact count (k + 7 framing tokens) is never below what
 * the stand-in bills (ceil(chars / 4) + 3): the worst case is a true bound of the real cost,
 * and a real provider's count is what o200k says.
 */
import { resolveConfig } from '../../src/config/index.ts';
import { BudgetExceededError } from '../../src/errors.ts';
import type { Ledger } from '../../src/ledger/types.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import type { CallDescription, CallGate, CallOutcome, GateDecision } from '../../src/gate.ts';
import { startHarness, type Harness } from '../standin/harness.ts';

/** The instrumentation patches the SDK once per process: one harness, its gate switched per burst. */
class SwitchGate implements CallGate {
  policy: BudgetPolicy | undefined;
  admit(call: CallDescription): Promise<GateDecision> {
    return this.policy === undefined ? Promise.resolve({ action: 'allow' }) : this.policy.admit(call);
  }
  complete(ticket: unknown, outcome: CallOutcome): void {
    this.policy?.complete(ticket, outcome);
  }
  abort(ticket: unknown): void {
    this.policy?.abort(ticket);
  }
}
const gate = new SwitchGate();
let harness: Promise<Harness> | undefined;

/** Stops the shared harness (after the last burst of the process). */
export async function closeBurstHarness(): Promise<void> {
  if (harness !== undefined) await (await harness).close();
  harness = undefined;
}

const WORDS = [' the', ' and', ' for', ' you', ' not', ' but', ' are', ' was', ' his', ' her', ' all', ' can', ' one', ' out', ' day', ' get'];

/** What one burst asks for. */
export interface BurstSpec {
  readonly calls: number;
  readonly dailyUsd: number;
  /** Largest max_tokens drawn (the stand-in answers at most 13 tokens). */
  readonly maxTokensUpTo: number;
  readonly waitMs: number;
  readonly seed: number;
  readonly agent: string;
}

/** What one burst did. */
export interface BurstResult {
  readonly admitted: number;
  readonly refused: number;
  /** Sum of `tollgate.cost.usd` of the calls that went out, in nano-USD (what the provider billed). */
  readonly costNanos: number;
  readonly otherErrors: string[];
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fires `spec.calls` chat calls at once; each call's real cost is random (prompt length, max_tokens). */
export async function runBurst(ledger: Ledger, spec: BurstSpec): Promise<BurstResult> {
  const config = resolveConfig({ env: {}, overrides: { agent: spec.agent, limits: { dailyUsd: spec.dailyUsd, waitMs: spec.waitMs } } });
  const policy = new BudgetPolicy({ config, ledger, prices: createPriceTable(), estimator: createInputEstimator() });
  harness ??= startHarness({ gate, captureMessageContent: false });
  const h = await harness;
  h.reset();
  gate.policy = policy;
  const client = h.client('openai');
  const random = rng(spec.seed);
  const bodies = Array.from({ length: spec.calls }, () => {
    const k = 20 + Math.floor(random() * 180);
    let text = '';
    for (let i = 0; i < k; i++) text += WORDS[Math.floor(random() * WORDS.length)];
    return { model: 'gpt-4o', messages: [{ role: 'user', content: text }], max_tokens: 1 + Math.floor(random() * spec.maxTokensUpTo) };
  });
  let admitted = 0;
  let refused = 0;
  const otherErrors: string[] = [];
  await Promise.all(
    bodies.map(async (body) => {
      try {
        await client.chat.completions.create(body);
        admitted++;
      } catch (err) {
        if (err instanceof BudgetExceededError) refused++;
        else otherErrors.push(String(err));
      }
    }),
  );
  await policy.close();
  let costNanos = 0;
  for (const s of h.spans()) costNanos += Math.round(Number(s.attributes['tollgate.cost.usd'] ?? 0) * 1e9);
  gate.policy = undefined;
  return { admitted, refused, costNanos, otherErrors };
}
