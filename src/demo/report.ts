/**
 * The demo's report: every number comes from the spans tollgate recorded (their
 * `tollgate.cost.usd`, token counts and policy attributes) or from the stand-in's request
 * log. Nothing is typed in.
 */
import type { CallRecord } from './phase.ts';
import type { BlockInfo, TaskOutcome } from './pipeline.ts';
import type { DemoRun } from './run.ts';
import { AGENT_PROVIDER, DEMO_AGENTS, RUNAWAY_AGENT } from './scenario.ts';

/** Calls, tokens and cost of a set of calls. */
export interface Totals {
  /** Calls sent (blocked calls excluded). */
  readonly calls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  /** Sum of the calls' `tollgate.cost.usd`. */
  readonly costUsd: number;
}

/** One row: a step (agent) or a task, before and after. */
export interface ComparisonRow {
  readonly key: string;
  /** The task type, for task rows; the provider, for step rows. */
  readonly label: string;
  readonly modelsBefore: readonly string[];
  readonly modelsAfter: readonly string[];
  readonly before: Totals;
  readonly after: Totals;
  /** (before - after) / before x 100; 0 when before is 0. */
  readonly reductionPct: number;
}

/** The runaway phase, summed up. */
export interface RunawayReport {
  readonly agent: string;
  /** The first refusal (null if the agent was never blocked, which would be a bug). */
  readonly block: BlockInfo | null;
  /** Calls of the agent that reached the provider, per the spans. */
  readonly callsSent: number;
  /** Calls of the agent that tollgate refused, per the spans. */
  readonly callsBlocked: number;
  readonly costUsd: number;
  /** Requests of the agent the stand-in provider received. */
  readonly providerRequests: number;
  /** Of those, requests that arrived after the first refusal (providerRequests - calls sent before it). */
  readonly providerRequestsAfterBlock: number;
  /** Calls admitted after the first refusal, per the spans: smaller calls that still fit what the cap had left. */
  readonly callsSentAfterBlock: number;
  /** What the refusing scope had left when it first refused (limit - spent - reserved). */
  readonly remainingAtBlockUsd: number;
  /** The other agents' steps: how many tasks each completed. */
  readonly othersCompleted: Readonly<Record<string, number>>;
  readonly tasks: number;
}

/** The whole report (`tollgate demo --json` prints it). */
export interface DemoReport {
  readonly tasks: number;
  readonly ledger: string;
  readonly otlp: boolean;
  readonly steps: readonly ComparisonRow[];
  readonly taskRows: readonly ComparisonRow[];
  readonly total: ComparisonRow;
  /** What changed, counted on the "after" spans. */
  readonly after: {
    readonly routedCalls: number;
    readonly maxTokensLowered: number;
    readonly cacheReadTokens: number;
    readonly blockedCalls: number;
  };
  readonly runaway: RunawayReport;
  /** Every phase's calls as the spans recorded them, and its task outcomes. */
  readonly phases: Readonly<Record<string, { readonly calls: readonly CallRecord[]; readonly tasks: readonly TaskOutcome[] }>>;
}

function totals(calls: readonly CallRecord[]): Totals {
  let n = 0;
  let input = 0;
  let output = 0;
  let cache = 0;
  let cost = 0;
  for (const c of calls) {
    if (c.action !== 'block') n++;
    input += c.inputTokens;
    output += c.outputTokens;
    cache += c.cacheReadTokens;
    cost += c.costUsd;
  }
  return { calls: n, inputTokens: input, outputTokens: output, cacheReadTokens: cache, costUsd: cost };
}

function models(calls: readonly CallRecord[]): string[] {
  return [...new Set(calls.filter((c) => c.action !== 'block').map((c) => c.model))];
}

function row(key: string, label: string, before: readonly CallRecord[], after: readonly CallRecord[]): ComparisonRow {
  const b = totals(before);
  const a = totals(after);
  return {
    key,
    label,
    modelsBefore: models(before),
    modelsAfter: models(after),
    before: b,
    after: a,
    reductionPct: b.costUsd > 0 ? ((b.costUsd - a.costUsd) / b.costUsd) * 100 : 0,
  };
}

/** The largest max_tokens an agent's calls carried before (none = unlimited). */
function beforeCeiling(before: readonly CallRecord[], agent: string): number {
  let max = 0;
  for (const c of before) if (c.agent === agent) max = Math.max(max, c.maxTokens ?? Infinity);
  return max;
}

/** Builds the report from the run. */
export function buildReport(run: DemoRun): DemoReport {
  const before = run.phases.before.result.calls;
  const after = run.phases.after.result.calls;
  const steps = DEMO_AGENTS.map((agent) =>
    row(
      agent,
      AGENT_PROVIDER[agent],
      before.filter((c) => c.agent === agent),
      after.filter((c) => c.agent === agent),
    ),
  );
  const taskRows = run.phases.before.result.tasks.map((t) =>
    row(
      t.taskId,
      t.type,
      before.filter((c) => c.taskId === t.taskId),
      after.filter((c) => c.taskId === t.taskId),
    ),
  );

  const runawayPhase = run.phases.runaway;
  const own = runawayPhase.result.calls.filter((c) => c.agent === RUNAWAY_AGENT);
  const firstBlock = own.find((c) => c.action === 'block');
  const sentBeforeBlock = own.filter((c) => c.action !== 'block' && (firstBlock === undefined || c.startMs < firstBlock.startMs)).length;
  const providerRequests = runawayPhase.standinRequests.filter((r) => r.agent === RUNAWAY_AGENT).length;
  let block: BlockInfo | null = null;
  const othersCompleted: Record<string, number> = {};
  for (const agent of DEMO_AGENTS) if (agent !== RUNAWAY_AGENT) othersCompleted[agent] = 0;
  for (const t of runawayPhase.result.tasks) {
    for (const s of t.steps) {
      if (s.agent === RUNAWAY_AGENT) block ??= s.blocked ?? null;
      else if (s.status === 'ok') othersCompleted[s.agent] = (othersCompleted[s.agent] ?? 0) + 1;
    }
  }

  const phases: Record<string, { calls: readonly CallRecord[]; tasks: readonly TaskOutcome[] }> = {};
  for (const [name, p] of Object.entries(run.phases)) phases[name] = { calls: p.result.calls, tasks: p.result.tasks };

  return {
    tasks: run.tasks,
    ledger: run.ledger,
    otlp: run.otlp,
    steps,
    taskRows,
    total: row('total', '', before, after),
    after: {
      routedCalls: after.filter((c) => c.originalModel !== null && c.originalModel !== c.model).length,
      maxTokensLowered: after.filter((c) => c.action !== 'block' && (c.maxTokens ?? Infinity) < beforeCeiling(before, c.agent)).length,
      cacheReadTokens: totals(after).cacheReadTokens,
      blockedCalls: after.filter((c) => c.action === 'block').length,
    },
    runaway: {
      agent: RUNAWAY_AGENT,
      block,
      callsSent: own.filter((c) => c.action !== 'block').length,
      callsBlocked: own.filter((c) => c.action === 'block').length,
      costUsd: totals(own).costUsd,
      providerRequests,
      providerRequestsAfterBlock: providerRequests - sentBeforeBlock,
      callsSentAfterBlock: own.filter((c) => c.action !== 'block').length - sentBeforeBlock,
      remainingAtBlockUsd: block === null ? 0 : Math.max(0, block.limitUsd - block.spentUsd - block.reservedUsd),
      othersCompleted,
      tasks: runawayPhase.result.tasks.length,
    },
    phases,
  };
}

// ---------------------------------------------------------------------------
// Text

/** USD with 4 decimals (`$0.1234`), or 6 below a cent. */
export function usd(v: number): string {
  return `$${v.toFixed(Math.abs(v) < 0.01 && v !== 0 ? 6 : 4)}`;
}

function int(n: number): string {
  return n.toLocaleString('en-US');
}

function pct(v: number): string {
  return `${v.toFixed(1)}%`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], rightFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function comparisonCells(r: ComparisonRow, withModels: boolean): string[] {
  const cells = [
    r.key,
    r.label,
    `${r.before.calls} / ${r.after.calls}`,
    `${int(r.before.inputTokens + r.before.outputTokens)} / ${int(r.after.inputTokens + r.after.outputTokens)}`,
    int(r.after.cacheReadTokens),
    usd(r.before.costUsd),
    usd(r.after.costUsd),
    pct(r.reductionPct),
  ];
  if (withModels) cells.splice(2, 0, r.key === 'total' ? '' : `${r.modelsBefore.join(',')} -> ${r.modelsAfter.join(',')}`);
  return cells;
}

/** A task's progress line: each step's outcome. */
export function formatTaskLine(phase: string, outcome: TaskOutcome, index: number, total: number): string {
  const steps = outcome.steps
    .map((s) => {
      if (s.status === 'ok') return `${s.agent} ok${s.attempts > 1 ? ` (${s.attempts} calls)` : ''}`;
      if (s.status === 'blocked') return `${s.agent} BLOCKED (${s.blocked?.scope ?? '?'}, after ${s.attempts} call${s.attempts === 1 ? '' : 's'})`;
      if (s.status === 'skipped') return `${s.agent} skipped`;
      return `${s.agent} FAILED: ${s.error ?? ''}`;
    })
    .join(' · ');
  return `  ${phase.padEnd(7)} ${String(index + 1).padStart(String(total).length)}/${total}  ${outcome.taskId}  ${outcome.type.padEnd(13)}  ${steps}`;
}

/** The report as the terminal shows it. */
export function formatReport(r: DemoReport): string {
  const out: string[] = [];
  const stepHead = ['step (agent)', 'provider', 'model before -> after', 'calls b/a', 'tokens before / after', 'cache read', 'cost before', 'cost after', 'reduction'];
  out.push('', `Cost per step: ${r.tasks} tasks, before vs after (every figure summed from the spans' tollgate.cost.usd)`, '');
  out.push(table(stepHead, [...r.steps.map((s) => comparisonCells(s, true)), comparisonCells({ ...r.total, key: 'total' }, true)], 3));
  out.push('', 'Cost per task', '');
  const taskHead = ['task', 'type', 'calls b/a', 'tokens before / after', 'cache read', 'cost before', 'cost after', 'reduction'];
  out.push(table(taskHead, [...r.taskRows.map((t) => comparisonCells(t, false)), comparisonCells({ ...r.total, key: 'total' }, false)], 2));
  out.push(
    '',
    `After: ${r.after.routedCalls} calls routed to a cheaper model, ${int(r.after.cacheReadTokens)} input tokens read from the prompt cache, ` +
      `${r.after.maxTokensLowered} calls under a lower max_tokens ceiling, ${r.after.blockedCalls} calls blocked.`,
    `Total: ${usd(r.total.before.costUsd)} before, ${usd(r.total.after.costUsd)} after: ${pct(r.total.reductionPct)} less for the same ${r.tasks} tasks.`,
  );

  const w = r.runaway;
  out.push('', `Runaway agent: "${w.agent}" retries forever on a reply it cannot parse (same ${w.tasks} tasks, "after" settings)`, '');
  if (w.block === null) {
    out.push(`  NOT BLOCKED: ${w.callsSent} calls, ${usd(w.costUsd)}`);
  } else {
    out.push(
      `  blocked by scope ${w.block.scope}: spent ${usd(w.block.spentUsd)} of its ${usd(w.block.limitUsd)} cap` +
        ` (the next call needed up to ${usd(w.block.estimatedUsd)})${w.block.resetAt === null ? '' : `; resets ${w.block.resetAt}`}`,
      `  ${w.callsSent} calls sent in all (${usd(w.costUsd)}); ${w.callsBlocked} refused with BudgetExceededError before leaving the process;`,
      `  the provider received ${w.providerRequests} requests from it` +
        (w.providerRequests === w.callsSent ? ', one per admitted call (no refused call left the process)' : `, but only ${w.callsSent} calls were admitted (!)`) +
        (w.providerRequestsAfterBlock === 0
          ? ', and none after the first refusal.'
          : `; ${w.providerRequestsAfterBlock} came after the first refusal: a new task's shorter first try that still fit the ${usd(w.remainingAtBlockUsd)} left.`),
      `  the other agents finished: ${Object.entries(w.othersCompleted)
        .map(([a, n]) => `${a} ${n}/${w.tasks}`)
        .join(', ')}.`,
    );
  }
  out.push(
    '',
    `Ledger: ${r.ledger}. Spans ${r.otlp ? 'also exported over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)' : 'kept in memory (set OTEL_EXPORTER_OTLP_ENDPOINT to export them)'}.`,
    '',
  );
  return out.join('\n');
}
