/**
 * Rolls inference spans up into cost rows by agent, model, task type and UTC day.
 *
 * Definitions (docs/cli.md, "tollgate report", summarises them):
 * - Spans are read the way the span processor reads them (processor/dialects.ts),
 *   so foreign spans the processor priced are reported too. An inference span is
 *   one whose `gen_ai.operation.name` is chat, text_completion, embeddings or
 *   generate_content, or, without that attribute, one the span's own dialect marks
 *   as a provider call (OpenInference `openinference.span.kind` LLM / EMBEDDING,
 *   the Vercel AI SDK's `ai.*.doGenerate` / `doStream` / `doEmbed`, OpenLLMetry's
 *   `llm.request.type`); other spans (invoke_agent, execute_tool, HTTP, the Vercel
 *   `ai.generateText` wrapper) are ignored, as they may carry their children's
 *   aggregate usage.
 * - agent: span `gen_ai.agent.name`, else resource `gen_ai.agent.name`, else
 *   resource `service.name`, else `-`. model: `gen_ai.response.model`, else
 *   `gen_ai.request.model`, else the dialect's model (`llm.model_name`,
 *   `ai.model.id`, ...), else `-`. task type: `tollgate.task.type`, else `-`.
 * - tokens: the call's usage in the GenAI shape (input includes cache reads and
 *   writes), from whichever dialect the span carries (dialects.ts `readUsage`).
 *   day: UTC date of the span's end (when the cost was settled), else its start.
 * - calls: inference calls sent to the provider. blocked: calls refused by a
 *   budget (`error.type` = `tollgate.budget_exceeded`); they sent nothing and
 *   cost nothing, and are not in `calls`. errors: sent calls whose span status
 *   is ERROR.
 * - cost: `tollgate.cost.usd`, else `gen_ai.usage.cost`. A sent call with
 *   neither is counted in `unpriced`: its spend is unknown, never taken as $0.
 * - cache savings: what the cache-read tokens would have cost at the call's own
 *   input rate, minus what they did cost. The input rate comes from the span's
 *   breakdown: `tollgate.cost.input_usd` / (input - cache read - cache write
 *   tokens); the cache-read cost is `tollgate.cost.cache_read_usd`. Cache-write
 *   premiums are not subtracted (the figure is the gross read saving). A call
 *   with cache reads but no breakdown, or no uncached input to derive the rate
 *   from, is counted in `cacheSavingsUnknown`.
 *
 * Nested duplicates: two layered instrumentations (e.g. an SDK's own span under
 * tollgate's, see openinference#2101 and the Anthropic SDK >= 0.134) record one
 * call twice, as an inference span whose parent is an inference span of the
 * same trace and model. Such a child is merged into its parent and the pair
 * counts once: the parent's values win, the child fills what the parent lacks
 * (e.g. the cost when only the inner span was priced). The parent may come
 * before or after the child in the file; a bounded window of recent inference
 * spans (`dedupeWindowSpans`) keeps memory flat, so a pair further apart in the
 * file than the window is counted twice.
 *
 * Money is summed as integer nano-USD so totals are exact sums of the spans' costs.
 */
import type { Attributes as OtelAttributes } from '@opentelemetry/api';
import { isInferenceSpan, modelOf as dialectModelOf, readUsage } from '../processor/dialects.ts';
import {
  ATTR_COST_CACHE_READ_USD,
  ATTR_COST_INPUT_USD,
  ATTR_COST_USD,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_USAGE_COST,
  ATTR_SERVICE_NAME,
  ATTR_TASK_TYPE,
  ERROR_TYPE_BUDGET_EXCEEDED,
} from '../semconv.ts';
import { usdToNanos } from '../internal/money.ts';
import { str } from '../internal/values.ts';
import { utcDate, utcDayStart } from '../internal/utc.ts';
import { STATUS_ERROR } from './otlp.ts';
import type { Attributes, AttrValue, OtlpSpan } from './otlp.ts';

/** Default of {@link SpanAggregatorOptions.dedupeWindowSpans}. */
export const DEFAULT_DEDUPE_WINDOW_SPANS = 20_000;

/** Shown for a dimension a span does not carry. */
export const NONE = '-';

/** Sums of one report row. Money in integer nano-USD. */
export interface RowTotals {
  calls: number;
  errors: number;
  blocked: number;
  unpriced: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costNanos: number;
  cacheSavingsNanos: number;
  cacheSavingsUnknown: number;
}

/** The dimensions a report groups by. */
export type Dimension = 'agent' | 'model' | 'taskType' | 'day';

/** Counts about the spans themselves. */
export interface SpanCounts {
  /** Spans seen (all kinds). */
  spans: number;
  /** Inference spans seen, before merging nested duplicates. */
  inferenceSpans: number;
  /** Inference spans merged into their parent (nested duplicates of one call). */
  nestedMerged: number;
  /** Spans seen twice with the same trace and span id (a batch exported twice); the repeat is ignored. */
  repeatedSpans: number;
}

/** The rolled-up result: one map of rows per dimension, agent x day for charts, and totals. */
export interface Aggregate {
  readonly totals: RowTotals;
  readonly byAgent: ReadonlyMap<string, RowTotals>;
  readonly byModel: ReadonlyMap<string, RowTotals>;
  readonly byTaskType: ReadonlyMap<string, RowTotals>;
  readonly byDay: ReadonlyMap<string, RowTotals>;
  /** Keyed by agent, then day. */
  readonly byAgentDay: ReadonlyMap<string, ReadonlyMap<string, RowTotals>>;
  readonly counts: Readonly<SpanCounts>;
}

/** Options of {@link SpanAggregator}. */
export interface SpanAggregatorOptions {
  /**
   * How many recent inference spans are remembered to find nested duplicates
   * whose parent and child are apart in the file. Bounds memory: about 0.7 KB
   * per span (measured), so the default holds ~14 MB. A child ends just before
   * its parent, so the pair is usually in the same export batch or the next.
   * @default 20000
   */
  readonly dedupeWindowSpans?: number;
}

/** What one call contributes; undefined fields were absent from the span(s). */
interface CallFacts {
  agent: string;
  model: string;
  taskType: string;
  day: string;
  blocked: boolean;
  error: boolean;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  cacheReadTokens: number | undefined;
  cacheWriteTokens: number | undefined;
  costNanos: number | undefined;
  inputCostNanos: number | undefined;
  cacheReadCostNanos: number | undefined;
}

/** An inference span in the dedupe window. `root` points towards the span its call is counted on. */
interface Entry {
  readonly key: string;
  readonly parentKey: string | undefined;
  /** The span's own models, to compare with a parent or child. */
  readonly model: string;
  readonly requestModel: string | undefined;
  /** Facts of the whole call (this span merged with its nested duplicates) while this entry is a root. */
  facts: CallFacts;
  root: Entry;
}

/** An empty row. */
export function emptyRow(): RowTotals {
  return { calls: 0, errors: 0, blocked: 0, unpriced: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costNanos: 0, cacheSavingsNanos: 0, cacheSavingsUnknown: 0 };
}

function num(value: AttrValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function nanos(value: AttrValue | undefined): number | undefined {
  const usd = num(value);
  return usd === undefined ? undefined : usdToNanos(usd);
}

let lastDayStart = Number.NaN;
let lastDay = NONE;

/** UTC date of an epoch-ms time. Spans come in time order, so one remembered day saves a Date per span. */
function utcDay(millis: number): string {
  if (millis <= 0) return NONE;
  const dayStart = utcDayStart(millis);
  if (dayStart !== lastDayStart) {
    lastDay = utcDate(dayStart);
    lastDayStart = dayStart;
  }
  return lastDay;
}

/**
 * A span's attributes as the OTel API's plain object, for the dialect readers the span processor
 * uses. Decoded OTLP values are a superset (null, key-value lists); the readers check each type.
 */
function plain(attributes: Attributes): OtelAttributes {
  return Object.fromEntries(attributes) as OtelAttributes;
}

function factsOf(span: OtlpSpan, plainAttrs: OtelAttributes): CallFacts {
  const a = span.attributes;
  const usage = readUsage(plainAttrs);
  const blocked = str(a.get(ATTR_ERROR_TYPE)) === ERROR_TYPE_BUDGET_EXCEEDED;
  return {
    agent: str(a.get(ATTR_GEN_AI_AGENT_NAME)) ?? str(span.resource.get(ATTR_GEN_AI_AGENT_NAME)) ?? str(span.resource.get(ATTR_SERVICE_NAME)) ?? NONE,
    model: dialectModelOf(plainAttrs) ?? NONE,
    taskType: str(a.get(ATTR_TASK_TYPE)) ?? NONE,
    day: utcDay(span.endTimeMillis > 0 ? span.endTimeMillis : span.startTimeMillis),
    blocked,
    error: !blocked && span.statusCode === STATUS_ERROR,
    inputTokens: usage?.inputTokens,
    outputTokens: usage?.outputTokens,
    cacheReadTokens: usage?.cacheReadTokens,
    cacheWriteTokens: usage?.cacheWriteTokens,
    costNanos: nanos(a.get(ATTR_COST_USD)) ?? nanos(a.get(ATTR_GEN_AI_USAGE_COST)),
    inputCostNanos: nanos(a.get(ATTR_COST_INPUT_USD)),
    cacheReadCostNanos: nanos(a.get(ATTR_COST_CACHE_READ_USD)),
  };
}

/** The outer span's facts win; the inner one fills what the outer lacks. */
function merge(outer: CallFacts, inner: CallFacts): CallFacts {
  return {
    agent: outer.agent !== NONE ? outer.agent : inner.agent,
    model: outer.model !== NONE ? outer.model : inner.model,
    taskType: outer.taskType !== NONE ? outer.taskType : inner.taskType,
    day: outer.day !== NONE ? outer.day : inner.day,
    blocked: outer.blocked || inner.blocked,
    error: (outer.error || inner.error) && !(outer.blocked || inner.blocked),
    inputTokens: outer.inputTokens ?? inner.inputTokens,
    outputTokens: outer.outputTokens ?? inner.outputTokens,
    cacheReadTokens: outer.cacheReadTokens ?? inner.cacheReadTokens,
    cacheWriteTokens: outer.cacheWriteTokens ?? inner.cacheWriteTokens,
    costNanos: outer.costNanos ?? inner.costNanos,
    inputCostNanos: outer.inputCostNanos ?? inner.inputCostNanos,
    cacheReadCostNanos: outer.cacheReadCostNanos ?? inner.cacheReadCostNanos,
  };
}

/** Cache savings of one call in nano-USD, or undefined when they cannot be derived (see the module comment). */
function cacheSavingsNanos(f: CallFacts): number | undefined {
  const read = f.cacheReadTokens ?? 0;
  if (read <= 0) return 0;
  if (f.inputCostNanos === undefined || f.cacheReadCostNanos === undefined || f.inputTokens === undefined) return undefined;
  const uncached = f.inputTokens - read - (f.cacheWriteTokens ?? 0);
  if (uncached <= 0) return undefined;
  return Math.round((f.inputCostNanos * read) / uncached) - f.cacheReadCostNanos;
}

function apply(row: RowTotals, f: CallFacts, sign: 1 | -1): void {
  if (f.blocked) {
    row.blocked += sign;
    return;
  }
  row.calls += sign;
  if (f.error) row.errors += sign;
  row.inputTokens += sign * (f.inputTokens ?? 0);
  row.outputTokens += sign * (f.outputTokens ?? 0);
  row.cacheReadTokens += sign * (f.cacheReadTokens ?? 0);
  row.cacheWriteTokens += sign * (f.cacheWriteTokens ?? 0);
  if (f.costNanos === undefined) row.unpriced += sign;
  else row.costNanos += sign * f.costNanos;
  const saved = cacheSavingsNanos(f);
  if (saved === undefined) row.cacheSavingsUnknown += sign;
  else row.cacheSavingsNanos += sign * saved;
}

function rowIn(map: Map<string, RowTotals>, key: string): RowTotals {
  let row = map.get(key);
  if (row === undefined) {
    row = emptyRow();
    map.set(key, row);
  }
  return row;
}

/**
 * Same call's model: equal response-or-request models, or equal request models
 * (a wrapper span may only know the requested alias, the inner span the dated
 * snapshot the provider answered with).
 */
function sameModel(a: Entry, b: Entry): boolean {
  return a.model === b.model || (a.requestModel !== undefined && a.requestModel === b.requestModel);
}

function findRoot(entry: Entry): Entry {
  let root = entry;
  while (root.root !== root) root = root.root;
  // Path compression keeps later lookups O(1) for long chains.
  let e = entry;
  while (e.root !== root) {
    const next = e.root;
    e.root = root;
    e = next;
  }
  return root;
}

/**
 * Aggregates spans one at a time (feed it from {@link readOtlpFile}). Memory is
 * the result rows plus a bounded window of recent inference spans.
 */
export class SpanAggregator {
  readonly #windowSize: number;
  readonly #totals = emptyRow();
  readonly #byAgent = new Map<string, RowTotals>();
  readonly #byModel = new Map<string, RowTotals>();
  readonly #byTaskType = new Map<string, RowTotals>();
  readonly #byDay = new Map<string, RowTotals>();
  readonly #byAgentDay = new Map<string, Map<string, RowTotals>>();
  readonly #counts: SpanCounts = { spans: 0, inferenceSpans: 0, nestedMerged: 0, repeatedSpans: 0 };
  /** Recent inference spans by `traceId/spanId`. */
  readonly #window = new Map<string, Entry>();
  /**
   * Window keys in insertion order, as a ring. Evicting through the Map's own
   * order (`keys().next()` then `delete`) is quadratic in V8: deleted slots stay
   * as holes that every new iterator walks past until the table is rebuilt.
   */
  readonly #ring: (string | undefined)[];
  #ringNext = 0;
  /** Roots whose parent span has not been seen yet, by the parent's key. */
  readonly #waitingForParent = new Map<string, Entry[]>();

  constructor(options: SpanAggregatorOptions = {}) {
    const size = options.dedupeWindowSpans ?? DEFAULT_DEDUPE_WINDOW_SPANS;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`dedupeWindowSpans must be a positive integer, got ${size}`);
    this.#windowSize = size;
    this.#ring = new Array<string | undefined>(size).fill(undefined);
  }

  /** Adds one span; spans that are not inference calls are only counted. */
  add(span: OtlpSpan): void {
    this.#counts.spans++;
    const attrs = plain(span.attributes);
    if (!isInferenceSpan(span.name, attrs)) return;

    const key = `${span.traceId}/${span.spanId}`;
    if (this.#window.has(key)) {
      this.#counts.repeatedSpans++;
      return;
    }
    this.#counts.inferenceSpans++;
    const facts = factsOf(span, attrs);
    const parentKey = span.parentSpanId === '' ? undefined : `${span.traceId}/${span.parentSpanId}`;
    const requestModel = str(span.attributes.get(ATTR_GEN_AI_REQUEST_MODEL));
    const entry: Entry = { key, parentKey, model: facts.model, requestModel, facts, root: undefined as unknown as Entry };
    entry.root = entry;

    const parent = parentKey === undefined ? undefined : this.#window.get(parentKey);
    if (parent !== undefined && sameModel(parent, entry)) {
      const root = findRoot(parent);
      this.#replace(root, merge(root.facts, facts));
      entry.root = root;
      this.#counts.nestedMerged++;
    } else {
      this.#contribute(facts, 1);
      if (parentKey !== undefined && parent === undefined) {
        const waiting = this.#waitingForParent.get(parentKey);
        if (waiting === undefined) this.#waitingForParent.set(parentKey, [entry]);
        else waiting.push(entry);
      }
    }

    // Children that arrived before this span: merge those of the same model.
    const children = this.#waitingForParent.get(key);
    if (children !== undefined) {
      this.#waitingForParent.delete(key);
      for (const child of children) {
        if (child.root !== child || !sameModel(entry, child)) continue;
        const root = findRoot(entry);
        this.#contribute(child.facts, -1);
        this.#replace(root, merge(root.facts, child.facts));
        child.root = root;
        this.#counts.nestedMerged++;
      }
    }

    const oldest = this.#ring[this.#ringNext];
    if (oldest !== undefined) this.#evict(oldest);
    this.#ring[this.#ringNext] = key;
    this.#ringNext = (this.#ringNext + 1) % this.#windowSize;
    this.#window.set(key, entry);
  }

  /** The rows so far. The maps are live views: read them after the last {@link add}. */
  result(): Aggregate {
    return {
      totals: this.#totals,
      byAgent: this.#byAgent,
      byModel: this.#byModel,
      byTaskType: this.#byTaskType,
      byDay: this.#byDay,
      byAgentDay: this.#byAgentDay,
      counts: this.#counts,
    };
  }

  #replace(root: Entry, facts: CallFacts): void {
    this.#contribute(root.facts, -1);
    root.facts = facts;
    this.#contribute(facts, 1);
  }

  #contribute(f: CallFacts, sign: 1 | -1): void {
    apply(this.#totals, f, sign);
    apply(rowIn(this.#byAgent, f.agent), f, sign);
    apply(rowIn(this.#byModel, f.model), f, sign);
    apply(rowIn(this.#byTaskType, f.taskType), f, sign);
    apply(rowIn(this.#byDay, f.day), f, sign);
    let days = this.#byAgentDay.get(f.agent);
    if (days === undefined) {
      days = new Map();
      this.#byAgentDay.set(f.agent, days);
    }
    apply(rowIn(days, f.day), f, sign);
  }

  #evict(key: string): void {
    const entry = this.#window.get(key);
    this.#window.delete(key);
    if (entry?.parentKey === undefined) return;
    const waiting = this.#waitingForParent.get(entry.parentKey);
    if (waiting === undefined) return;
    const rest = waiting.filter((e) => e !== entry);
    if (rest.length === 0) this.#waitingForParent.delete(entry.parentKey);
    else this.#waitingForParent.set(entry.parentKey, rest);
  }
}
