/**
 * The report: read a file of OTLP JSON spans, roll it up, and hand back a plain,
 * JSON-ready value that the text, JSON and HTML outputs all render.
 *
 * `tollgate report --json` prints {@link CostReport} as is. Its shape is stable
 * (`version` changes if a field's meaning ever does; fields may be added):
 *
 * ```
 * { "version": 1,
 *   "input": { "lines", "skippedLines", "gzip", "spans", "inferenceSpans", "nestedMerged", "repeatedSpans" },
 *   "totals": Row,
 *   "byAgent":    [ { "agent", ...Row } ],     // cost desc, then calls desc, then name
 *   "byModel":    [ { "model", ...Row } ],
 *   "byTaskType": [ { "taskType", ...Row } ],
 *   "byDay":      [ { "day": "YYYY-MM-DD", ...Row } ],   // oldest first
 *   "byAgentDay": [ { "agent", "day", ...Row } ] }       // by agent, then day
 * Row = { "calls", "errors", "blocked", "unpriced", "inputTokens", "outputTokens",
 *         "cacheReadTokens", "cacheWriteTokens", "costUsd", "cacheSavingsUsd", "cacheSavingsUnknown" }
 * ```
 * `-` stands for a dimension the spans did not carry. See aggregate.ts for what
 * each number counts.
 */
import { nanosToUsd } from '../ledger/types.ts';
import { SpanAggregator } from './aggregate.ts';
import type { Aggregate, RowTotals } from './aggregate.ts';
import { readOtlpFile } from './reader.ts';
import type { MalformedLine } from './reader.ts';

/** One row's numbers. Money in USD (exact sums: summed as integer nano-USD). */
export interface ReportRow {
  /** Inference calls sent to the provider (blocked calls not included). */
  readonly calls: number;
  /** Sent calls whose span status is ERROR. */
  readonly errors: number;
  /** Calls refused by a budget before sending (`error.type` = `tollgate.budget_exceeded`). */
  readonly blocked: number;
  /** Sent calls whose span has no cost: their spend is unknown and not in `costUsd`. */
  readonly unpriced: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly costUsd: number;
  /** What cache reads saved against the calls' own input rates. */
  readonly cacheSavingsUsd: number;
  /** Calls with cache reads whose savings could not be derived (no cost breakdown on the span). */
  readonly cacheSavingsUnknown: number;
}

/** What was read. */
export interface ReportInput {
  readonly lines: number;
  readonly skippedLines: number;
  readonly gzip: boolean;
  readonly spans: number;
  readonly inferenceSpans: number;
  readonly nestedMerged: number;
  readonly repeatedSpans: number;
}

/** The whole report; printed as is by `--json`. */
export interface CostReport {
  readonly version: 1;
  readonly input: ReportInput;
  readonly totals: ReportRow;
  readonly byAgent: readonly (ReportRow & { readonly agent: string })[];
  readonly byModel: readonly (ReportRow & { readonly model: string })[];
  readonly byTaskType: readonly (ReportRow & { readonly taskType: string })[];
  readonly byDay: readonly (ReportRow & { readonly day: string })[];
  readonly byAgentDay: readonly (ReportRow & { readonly agent: string; readonly day: string })[];
}

/** Options of {@link buildReport}. */
export interface BuildReportOptions {
  /** Called for every skipped line, as soon as it is found. */
  readonly onMalformed?: (malformed: MalformedLine) => void;
  /**
   * Recent inference spans remembered to merge nested duplicates of one call
   * (about 0.7 KB of heap each).
   * @default 20000
   */
  readonly dedupeWindowSpans?: number;
}

function toRow(r: RowTotals): ReportRow {
  return {
    calls: r.calls,
    errors: r.errors,
    blocked: r.blocked,
    unpriced: r.unpriced,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    cacheReadTokens: r.cacheReadTokens,
    cacheWriteTokens: r.cacheWriteTokens,
    costUsd: nanosToUsd(r.costNanos),
    cacheSavingsUsd: nanosToUsd(r.cacheSavingsNanos),
    cacheSavingsUnknown: r.cacheSavingsUnknown,
  };
}

/** A merge can leave a row that nothing counts on any more. */
function isEmpty(r: RowTotals): boolean {
  return r.calls === 0 && r.blocked === 0;
}

function bySpend(a: [string, RowTotals], b: [string, RowTotals]): number {
  return b[1].costNanos - a[1].costNanos || b[1].calls - a[1].calls || b[1].blocked - a[1].blocked || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function rows<K extends string>(map: ReadonlyMap<string, RowTotals>, keyName: K, order: 'spend' | 'key'): (ReportRow & Record<K, string>)[] {
  const entries = [...map].filter(([, r]) => !isEmpty(r));
  entries.sort(order === 'spend' ? bySpend : byKey);
  return entries.map(([key, r]) => ({ [keyName]: key, ...toRow(r) }) as ReportRow & Record<K, string>);
}

/** Turns an {@link Aggregate} into the report value. */
export function reportFromAggregate(agg: Aggregate, read: { readonly lines: number; readonly skippedLines: number; readonly gzip: boolean }): CostReport {
  const byAgentDay: (ReportRow & { agent: string; day: string })[] = [];
  for (const [agent, days] of [...agg.byAgentDay].sort(byKey)) {
    for (const [day, r] of [...days].sort(byKey)) {
      if (!isEmpty(r)) byAgentDay.push({ agent, day, ...toRow(r) });
    }
  }
  return {
    version: 1,
    input: {
      lines: read.lines,
      skippedLines: read.skippedLines,
      gzip: read.gzip,
      spans: agg.counts.spans,
      inferenceSpans: agg.counts.inferenceSpans,
      nestedMerged: agg.counts.nestedMerged,
      repeatedSpans: agg.counts.repeatedSpans,
    },
    totals: toRow(agg.totals),
    byAgent: rows(agg.byAgent, 'agent', 'spend'),
    byModel: rows(agg.byModel, 'model', 'spend'),
    byTaskType: rows(agg.byTaskType, 'taskType', 'spend'),
    byDay: rows(agg.byDay, 'day', 'key'),
    byAgentDay,
  };
}

/**
 * Reads a file of OTLP JSON spans (plain or gzip) as a stream and builds the
 * cost report.
 *
 * @throws TollgateError with code `REPORT_INPUT` when the file cannot be opened or read.
 */
export async function buildReport(path: string, options: BuildReportOptions = {}): Promise<CostReport> {
  const aggregator = new SpanAggregator(options.dedupeWindowSpans === undefined ? {} : { dedupeWindowSpans: options.dedupeWindowSpans });
  const read = await readOtlpFile(path, {
    onSpan: (span) => aggregator.add(span),
    ...(options.onMalformed === undefined ? {} : { onMalformed: options.onMalformed }),
  });
  return reportFromAggregate(aggregator.result(), read);
}
