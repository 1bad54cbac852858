/**
 * Wires tollgate together: resource -> configuration -> prices -> ledger ->
 * policy -> span processor -> instrumentations -> OTel Node SDK. Everything is
 * resolved once, here, at start-up; a bad value throws ConfigError before any
 * call is made.
 */
import { diag, metrics, type Attributes } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  type Resource,
} from '@opentelemetry/resources';
import { MeterProvider, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { resolveConfig, type AgentLimits, type TollgateConfig } from './config/index.ts';
import { AiSdkInstrumentation } from './instrumentation/ai-sdk/index.ts';
import { AnthropicInstrumentation } from './instrumentation/anthropic/index.ts';
import { BedrockInstrumentation } from './instrumentation/bedrock/index.ts';
import type { ContentCaptureMode } from './instrumentation/core/index.ts';
import { GoogleGenAIInstrumentation } from './instrumentation/google-genai/index.ts';
import { GoogleGenerativeAIInstrumentation } from './instrumentation/google-generative-ai/index.ts';
import { MistralInstrumentation } from './instrumentation/mistral/index.ts';
import { OpenAIInstrumentation } from './instrumentation/openai/index.ts';
import { createLedger } from './ledger/index.ts';
import type { Ledger } from './ledger/types.ts';
import { metricReadersFromEnv } from './otel/metrics.ts';
import { spanExportProcessorsFromEnv } from './otel/exporters.ts';
import { createBudgetPolicy, type AgentStatus, type BudgetExceededEvent, type BudgetPolicy, type RouteFunction } from './policy/index.ts';
import { CostSpanProcessor, setSpendSource, type SpendReport } from './processor/index.ts';
import { createPriceTable, warnIfPricesStale } from './pricing/index.ts';
import type { PriceTable } from './pricing/types.ts';
import type { CallGate } from './gate.ts';
import { ATTR_SERVICE_NAME } from './semconv.ts';

/** Options of {@link startTollgate}. Each wins over the matching env var / resource attribute. */
export interface TollgateOptions {
  /**
   * The environment read at start-up.
   * @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
  /** `service.name` (else OTEL_SERVICE_NAME). */
  readonly serviceName?: string;
  /** Resource attributes merged over the detected ones, e.g. `{ 'tollgate.budget.daily_usd': 5 }`. */
  readonly resourceAttributes?: Attributes;
  /** Path of a price override file (else TOLLGATE_PRICES). Ignored when `prices` is given. */
  readonly pricesPath?: string;
  /** A ready price table. */
  readonly prices?: PriceTable;
  /** A ledger, or a ledger spec as in TOLLGATE_LEDGER (`memory`, `sqlite:<path>`, `redis://…`). */
  readonly ledger?: Ledger | string;
  /** Failure policy of a remote ledger (else TOLLGATE_LEDGER_FAILURE). */
  readonly ledgerFailure?: 'closed' | 'open';
  /** Path of a config file (else TOLLGATE_CONFIG). */
  readonly configPath?: string;
  /** A config document (same format as the file), instead of a file. */
  readonly config?: unknown;
  /** Limits of the process's own agent, over the resource attributes. */
  readonly limits?: AgentLimits;
  /** Picks the model for a call before the budget check (routing by difficulty). */
  readonly route?: RouteFunction;
  /** Called for every refused call (after the span event and metric). */
  readonly onBudgetExceeded?: (event: BudgetExceededEvent) => void;
  /**
   * Span processors that export, in place of the ones OTEL_TRACES_EXPORTER asks for.
   * tollgate's cost processor always runs before them.
   */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Metric readers in place of the ones OTEL_METRICS_EXPORTER asks for. */
  readonly metricReaders?: readonly IMetricReader[];
  /** More instrumentations to register next to tollgate's. */
  readonly instrumentations?: readonly Instrumentation[];
  /** Record prompts and completions (else OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). */
  readonly captureMessageContent?: boolean | ContentCaptureMode;
  /**
   * Let inbound W3C baggage choose the agent whose budget is charged.
   * @default false
   */
  readonly trustBaggageAgent?: boolean;
  /** Clock in epoch ms, for windows and reservations (tests). @default Date.now */
  readonly now?: () => number;
  /** @deprecated Use `now`; read only when `now` is not given. */
  readonly clock?: () => number;
}

/** A running tollgate. */
export interface Tollgate {
  readonly config: TollgateConfig;
  readonly prices: PriceTable;
  readonly ledger: Ledger;
  readonly policy: BudgetPolicy;
  readonly processor: CostSpanProcessor;
  readonly resource: Resource;
  /** Spend rolled up by the processor (see getSpend). */
  getSpend(query?: { agent?: string; taskId?: string }): SpendReport;
  /** Budgets of an agent from the ledger, and whether it is blocked. */
  getAgentStatus(agent?: string): Promise<AgentStatus>;
  /** Flushes spans, metrics and buffered spend, and closes the ledger. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** The instrumentations tollgate ships, for services that run their own NodeSDK. */
export function tollgateInstrumentations(config: { prices?: PriceTable; gate?: CallGate; captureMessageContent?: boolean | ContentCaptureMode } = {}): Instrumentation[] {
  const shared = {
    ...(config.prices === undefined ? {} : { prices: config.prices }),
    ...(config.gate === undefined ? {} : { gate: config.gate }),
    ...(config.captureMessageContent === undefined ? {} : { captureMessageContent: config.captureMessageContent }),
  };
  return [
    new OpenAIInstrumentation(shared),
    new AnthropicInstrumentation(shared),
    new GoogleGenAIInstrumentation(shared),
    new GoogleGenerativeAIInstrumentation(shared),
    new AiSdkInstrumentation(shared),
    new BedrockInstrumentation(shared),
    new MistralInstrumentation(shared),
  ];
}

function detectResource(options: TollgateOptions): Resource {
  let resource = defaultResource().merge(
    detectResources({ detectors: [serviceInstanceIdDetector, processDetector, hostDetector, osDetector, envDetector] }),
  );
  if (options.serviceName !== undefined) resource = resource.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }));
  if (options.resourceAttributes !== undefined) resource = resource.merge(resourceFromAttributes(options.resourceAttributes));
  return resource;
}

/**
 * Starts tollgate with the OTel Node SDK: instrumentations for `openai` and
 * `@anthropic-ai/sdk`, the cost span processor, the budget policy and the
 * exporters the standard OTEL_* env vars ask for.
 * @throws ConfigError when any setting is invalid (nothing is started then).
 */
export async function startTollgate(options: TollgateOptions = {}): Promise<Tollgate> {
  const env = options.env ?? process.env;
  // The SDK's env detector reads process.env; an injected `env` is read by resolveConfig
  // (OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME) for what tollgate itself needs.
  const resource = detectResource(options);
  const config = resolveConfig({
    env,
    resourceAttributes: resource.attributes,
    overrides: {
      ...(typeof options.ledger === 'string' ? { ledger: options.ledger } : {}),
      ...(options.ledgerFailure === undefined ? {} : { ledgerFailure: options.ledgerFailure }),
      ...(options.pricesPath === undefined ? {} : { pricesPath: options.pricesPath }),
      ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
      ...(options.config === undefined ? {} : { configFile: options.config }),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    },
  });
  const prices = options.prices ?? createPriceTable(config.pricesPath === undefined ? {} : { overridesPath: config.pricesPath });
  warnIfPricesStale(prices.asOf); // the wall clock: a fake clock is a test artefact, staleness is real time
  const exportProcessors = options.spanProcessors !== undefined ? [...options.spanProcessors] : spanExportProcessorsFromEnv(env);
  const readers = options.metricReaders !== undefined ? [...options.metricReaders] : metricReadersFromEnv(env);

  const now = options.now ?? options.clock;
  const ledger =
    typeof options.ledger === 'object'
      ? options.ledger
      : await createLedger(config.ledger, {
          source: config.ledgerSource,
          failure: config.ledgerFailure,
          ...(now === undefined ? {} : { now }),
        });

  const meterProvider = new MeterProvider({ resource, readers });
  const meter = meterProvider.getMeter('tollgate');
  const policy = await createBudgetPolicy({
    config,
    ledger,
    prices,
    meter,
    ...(options.route === undefined ? {} : { route: options.route }),
    ...(options.onBudgetExceeded === undefined ? {} : { onBudgetExceeded: options.onBudgetExceeded }),
    ...(now === undefined ? {} : { now }),
  });
  const processor = new CostSpanProcessor({
    prices,
    meter,
    ...(now === undefined ? {} : { now }),
    ...(options.trustBaggageAgent === undefined ? {} : { trustBaggageAgent: options.trustBaggageAgent }),
    policy,
  });
  setSpendSource(processor);

  const instrumentations = [
    ...tollgateInstrumentations({
      prices,
      gate: policy,
      ...(options.captureMessageContent === undefined ? {} : { captureMessageContent: options.captureMessageContent }),
    }),
    ...(options.instrumentations ?? []),
  ];
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    spanProcessors: [processor, ...exportProcessors],
    // tollgate owns the MeterProvider (below); an empty list keeps the SDK from making a second one.
    metricReaders: [],
    instrumentations,
  });
  sdk.start();
  metrics.setGlobalMeterProvider(meterProvider);

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      const results = await Promise.allSettled([policy.close(), sdk.shutdown(), meterProvider.shutdown()]);
      await ledger.close().catch((err: unknown) => diag.warn('tollgate: closing the ledger failed', err));
      for (const instrumentation of instrumentations) instrumentation.disable();
      setSpendSource(undefined);
      for (const r of results) if (r.status === 'rejected') diag.warn('tollgate: shutdown step failed', r.reason);
    })();
    return stopping;
  };

  return {
    config,
    prices,
    ledger,
    policy,
    processor,
    resource,
    getSpend: (query) => processor.getSpend(query ?? {}),
    getAgentStatus: (agent) => policy.getAgentStatus(agent ?? config.agent),
    shutdown,
  };
}
