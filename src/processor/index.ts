/**
 * The span processor side of tollgate: pricing spans from any instrumentation,
 * attribution, rollups and cost metrics.
 */
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { defaultPriceTable } from '../pricing/index.ts';
import { CostSpanProcessor, type CostSpanProcessorOptions } from './cost-processor.ts';
import { Acc, type SpendReport } from './rollup.ts';

export { CostSpanProcessor } from './cost-processor.ts';
export type { CostSpanProcessorOptions } from './cost-processor.ts';
export type { ForeignSpend, SpendSink, TaskEnd } from '../gate.ts';
export type { SpendTotals, SpendWindow, AgentSpend, TaskSpend, SpendReport } from './rollup.ts';

let current: CostSpanProcessor | undefined;

/** Options of {@link tollgateSpanProcessors}: those of CostSpanProcessor, with `prices` optional. */
export type TollgateSpanProcessorsOptions = Omit<CostSpanProcessorOptions, 'prices'> & Partial<Pick<CostSpanProcessorOptions, 'prices'>>;

/**
 * The span processors to add to your own OpenTelemetry SDK: `[costProcessor]`.
 * The processor also becomes the one `getSpend()` reads.
 *
 * ORDER MATTERS: put them BEFORE your export processor, so the cost attributes
 * (`tollgate.cost.usd`, `gen_ai.usage.cost`, `tollgate.task.*`, `gen_ai.agent.name`)
 * are on the span when the exporter sees it:
 *
 * ```ts
 * const policy = await createBudgetPolicy({ config: resolveConfig(), ledger: new MemoryLedger(), prices });
 * new NodeSDK({
 *   spanProcessors: [...tollgateSpanProcessors({ policy, prices }), new BatchSpanProcessor(new OTLPTraceExporter())],
 *   instrumentations: tollgateInstrumentations({ gate: policy, prices }),
 * });
 * ```
 *
 * With `policy`, the spend of calls traced by other instrumentations reaches the policy's ledger
 * and ended tasks feed its `auto` task cap (the {@link SpendSink} seam of gate.ts).
 *
 * @param options CostSpanProcessor options; `prices` defaults to the built-in table.
 */
export function tollgateSpanProcessors(options: TollgateSpanProcessorsOptions = {}): SpanProcessor[] {
  const processor = new CostSpanProcessor({ ...options, prices: options.prices ?? defaultPriceTable() });
  current = processor;
  return [processor];
}

/** Makes `processor` the one `getSpend()` reads (startTollgate / register do this). */
export function setSpendSource(processor: CostSpanProcessor | undefined): void {
  current = processor;
}

/**
 * Spend so far, as rolled up by the current CostSpanProcessor (the last one made by
 * `tollgateSpanProcessors()` / `startTollgate()`). With `agent`: that agent only.
 * With `taskId`: also that task (a withTask id, or a trace id when the task is a
 * trace). Before any processor exists, everything reads zero.
 */
export function getSpend(query: { agent?: string; taskId?: string } = {}): SpendReport {
  if (current !== undefined) return current.getSpend(query);
  return { at: new Date().toISOString(), total: new Acc().snapshot(), agents: {}, byModel: {}, byTaskType: {}, task: undefined };
}
