/**
 * The foreign workload: GenAI spans WITHOUT cost, posted as OTLP/HTTP JSON the way a
 * Python service's exporter sends them (token counts as ints), plus one span that
 * tollgate already priced, which the collector must leave alone.
 */
import { randomBytes } from 'node:crypto';
import { FOREIGN_AGENT, FOREIGN_CALLS, FOREIGN_SERVICE, type ForeignCall } from '../scenario.ts';

type OtlpValue = { stringValue: string } | { intValue: string } | { doubleValue: number };

function kv(key: string, value: string | number, asInt = false): { key: string; value: OtlpValue } {
  if (typeof value === 'string') return { key, value: { stringValue: value } };
  return { key, value: asInt ? { intValue: String(value) } : { doubleValue: value } };
}

function span(traceId: string, name: string, attributes: { key: string; value: OtlpValue }[]): unknown {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    traceId,
    spanId: randomBytes(8).toString('hex'),
    name,
    kind: 3,
    startTimeUnixNano: String(now - 250_000_000n),
    endTimeUnixNano: String(now),
    attributes,
    status: {},
  };
}

function callAttributes(call: ForeignCall): { key: string; value: OtlpValue }[] {
  const attrs = [kv('gen_ai.request.model', call.model)];
  if (call.provider !== undefined) attrs.push(kv('gen_ai.provider.name', call.provider));
  if (call.operation !== undefined) attrs.push(kv('gen_ai.operation.name', call.operation));
  if (call.taskType !== undefined) attrs.push(kv('tollgate.task.type', call.taskType));
  if (call.agent !== undefined) attrs.push(kv('gen_ai.agent.name', call.agent));
  for (const [key, n] of Object.entries(call.tokens)) attrs.push(kv(key, n, true));
  return attrs;
}

/** A span tollgate already priced (cost deliberately NOT what the table says, so a repricing would show). */
export const PRE_PRICED = { model: 'gpt-4o-mini', costUsd: 0.125, agent: 'pre-priced-agent' } as const;

/** Posts one round of foreign spans (every call once) to the collector; resolves with the trace id used. */
export async function sendForeignRound(collectorOtlpHttpUrl: string, round: number): Promise<string> {
  const traceId = randomBytes(16).toString('hex');
  const spans = FOREIGN_CALLS.map((c) => span(traceId, c.spanName, callAttributes(c)));
  if (round === 0) {
    spans.push(
      span(traceId, `chat ${PRE_PRICED.model}`, [
        kv('gen_ai.request.model', PRE_PRICED.model),
        kv('gen_ai.provider.name', 'openai'),
        kv('gen_ai.operation.name', 'chat'),
        kv('gen_ai.agent.name', PRE_PRICED.agent),
        kv('gen_ai.usage.input_tokens', 1000, true),
        kv('gen_ai.usage.output_tokens', 100, true),
        kv('tollgate.cost.usd', PRE_PRICED.costUsd),
        kv('tollgate.cost.source', 'override'),
      ]),
    );
  }
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', FOREIGN_SERVICE), kv('telemetry.sdk.language', 'python'), kv('gen_ai.agent.name', FOREIGN_AGENT)] },
        scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.openai_v2', version: '2.1b0' }, spans }],
      },
    ],
  };
  const res = await fetch(`${collectorOtlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`collector refused the foreign spans: ${String(res.status)} ${text}`);
  return traceId;
}
