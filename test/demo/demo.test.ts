/**
 * `tollgate demo` end to end, in-process through its Command (each phase still runs in a
 * child process with the real SDK clients, tollgate and the stand-in provider). Spans
 * are exported over OTLP/HTTP JSON to a local receiver, so the report's totals are checked
 * against the spans as a collector would receive them, not against the demo's own copy.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { demo } from '../../src/cli/demo.ts';
import type { CliIO } from '../../src/cli/io.ts';
import type { DemoReport } from '../../src/demo/report.ts';
import { DEMO_AGENTS, RUNAWAY_AGENT, dailyCapUsd } from '../../src/demo/scenario.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';

let receiver: OtlpReceiver;
let dir: string;

before(async () => {
  receiver = await startOtlpReceiver();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-demo-test-'));
});
after(async () => {
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
});

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

async function runDemoCommand(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = sink();
  const err = sink();
  const io: CliIO = { stdout: out.stream, stderr: err.stream, env: { PATH: process.env['PATH'] ?? '', ...env }, cwd: process.cwd() };
  const code = await demo(args, io);
  return { code, stdout: out.text(), stderr: err.text() };
}

function inferenceSpans(phase: string): ReceivedSpan[] {
  return receiver.spans.filter(
    (s) => s.resource['service.name'] === 'tollgate-demo' && s.resource['tollgate.demo.phase'] === phase && s.attributes['gen_ai.operation.name'] !== undefined,
  );
}

function costOf(spans: readonly ReceivedSpan[]): number {
  return spans.reduce((sum, s) => sum + (typeof s.attributes['tollgate.cost.usd'] === 'number' ? s.attributes['tollgate.cost.usd'] : 0), 0);
}

test('the demo runs, and its report totals equal the sums of the exported spans’ tollgate.cost.usd', async () => {
  const tasks = 2;
  const { code, stdout, stderr } = await runDemoCommand(['--tasks', String(tasks), '--json'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_METRIC_EXPORT_INTERVAL: '600000',
  });
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout) as DemoReport;
  assert.equal(report.tasks, tasks);
  assert.equal(report.otlp, true);
  // Progress: one line per task and phase.
  assert.equal(stderr.split('\n').filter((l) => /^ {2}(before|after|runaway)\s+\d+\/2 /.test(l)).length, 3 * tasks);

  // Before and after: every call of every task succeeded, 6 calls per task (research makes two).
  for (const phase of ['before', 'after'] as const) {
    const spans = inferenceSpans(phase);
    assert.equal(spans.length, 6 * tasks, `${phase} spans`);
    const total = phase === 'before' ? report.total.before : report.total.after;
    assert.equal(total.calls, spans.length);
    assert.ok(Math.abs(total.costUsd - costOf(spans)) < 1e-12, `${phase}: report ${total.costUsd} vs spans ${costOf(spans)}`);
    assert.ok(spans.every((s) => typeof s.attributes['tollgate.cost.usd'] === 'number' && (s.attributes['tollgate.cost.usd'] as number) > 0));
    // The per-step and per-task rows add up to the total.
    const steps = report.steps.reduce((sum, r) => sum + (phase === 'before' ? r.before.costUsd : r.after.costUsd), 0);
    const rows = report.taskRows.reduce((sum, r) => sum + (phase === 'before' ? r.before.costUsd : r.after.costUsd), 0);
    assert.ok(Math.abs(steps - total.costUsd) < 1e-12);
    assert.ok(Math.abs(rows - total.costUsd) < 1e-12);
    for (const t of report.phases[phase]!.tasks) assert.deepEqual(t.steps.map((s) => s.status), ['ok', 'ok', 'ok', 'ok', 'ok']);
  }
  assert.ok(report.total.after.costUsd < report.total.before.costUsd);
  assert.equal(report.total.reductionPct, ((report.total.before.costUsd - report.total.after.costUsd) / report.total.before.costUsd) * 100);

  // Before: top models only, no cache reads, nothing rewritten. After: routed, cached, clamped.
  const beforeSpans = inferenceSpans('before');
  assert.deepEqual([...new Set(beforeSpans.map((s) => s.attributes['gen_ai.request.model']))].sort(), ['claude-opus-4-8', 'gpt-5.5']);
  assert.ok(beforeSpans.every((s) => (s.attributes['gen_ai.usage.cache_read.input_tokens'] ?? 0) === 0 && s.attributes['tollgate.policy.action'] === 'allow'));
  const afterSpans = inferenceSpans('after');
  const model = (agent: string): unknown[] => [...new Set(afterSpans.filter((s) => s.attributes['gen_ai.agent.name'] === agent).map((s) => s.attributes['gen_ai.request.model']))];
  assert.deepEqual(model('classify'), ['gpt-5.4-nano']);
  assert.deepEqual(model('validate'), ['claude-haiku-4-5']);
  assert.deepEqual(model('draft'), ['gpt-5.5']);
  assert.ok(report.after.cacheReadTokens > 0);
  assert.equal(report.after.cacheReadTokens, afterSpans.reduce((n, s) => n + ((s.attributes['gen_ai.usage.cache_read.input_tokens'] as number | undefined) ?? 0), 0));

  // Runaway: blocked by its daily cap; the other four agents completed every task.
  const w = report.runaway;
  assert.equal(w.agent, RUNAWAY_AGENT);
  assert.ok(w.block !== null);
  assert.equal(w.block.scope, 'agent.daily');
  assert.equal(w.block.limitUsd, dailyCapUsd(RUNAWAY_AGENT, tasks));
  assert.deepEqual(w.othersCompleted, Object.fromEntries(DEMO_AGENTS.filter((a) => a !== RUNAWAY_AGENT).map((a) => [a, tasks])));
  for (const t of report.phases['runaway']!.tasks) {
    const v = t.steps.find((s) => s.agent === RUNAWAY_AGENT);
    assert.equal(v?.status, 'blocked');
  }
  const runawaySpans = inferenceSpans('runaway').filter((s) => s.attributes['gen_ai.agent.name'] === RUNAWAY_AGENT);
  const sent = runawaySpans.filter((s) => s.attributes['tollgate.policy.action'] !== 'block');
  const refused = runawaySpans.filter((s) => s.attributes['tollgate.policy.action'] === 'block');
  assert.equal(sent.length, w.callsSent);
  assert.equal(refused.length, w.callsBlocked);
  assert.ok(refused.length >= tasks, 'every task ends with a refused call');
  assert.ok(refused.every((s) => s.attributes['error.type'] === 'tollgate.budget_exceeded' && (s.attributes['tollgate.cost.usd'] ?? 0) === 0));
  // The provider saw exactly the admitted calls: no refused call left the process, and
  // what arrived after the first refusal is exactly what the policy admitted after it.
  assert.equal(w.providerRequests, sent.length);
  assert.equal(w.providerRequestsAfterBlock, w.callsSentAfterBlock);
  // The cap held: what the runaway spent never went past it.
  assert.ok(costOf(runawaySpans) <= w.block.limitUsd, `${costOf(runawaySpans)} <= ${w.block.limitUsd}`);
  assert.ok(Math.abs(costOf(runawaySpans) - w.costUsd) < 1e-12);
});

test('--ledger sqlite:<file> keeps the caps in SQLite, shared by the phase processes', async () => {
  const file = join(dir, 'demo-ledger.db');
  const { code, stdout, stderr } = await runDemoCommand(['--tasks', '2', '--ledger', `sqlite:${file}`, '--json'], {});
  assert.equal(code, 0, stderr);
  assert.ok(existsSync(file));
  const report = JSON.parse(stdout) as DemoReport;
  assert.equal(report.ledger, `sqlite:${file}`);
  assert.equal(report.otlp, false);
  const w = report.runaway;
  assert.equal(w.block?.scope, 'agent.daily');
  // The daily counter the runaway hit also holds what the same agent spent in the "after"
  // phase, another process: the two shared the SQLite file.
  const afterValidate = report.phases['after']!.calls.filter((c) => c.agent === RUNAWAY_AGENT).reduce((s, c) => s + c.costUsd, 0);
  const runawayCalls = report.phases['runaway']!.calls.filter((c) => c.agent === RUNAWAY_AGENT);
  const firstBlock = runawayCalls.findIndex((c) => c.action === 'block');
  const ownBeforeBlock = runawayCalls.slice(0, firstBlock).reduce((s, c) => s + c.costUsd, 0);
  assert.ok(afterValidate > 0);
  assert.ok(Math.abs(w.block.spentUsd - (afterValidate + ownBeforeBlock)) < 1e-6, `${w.block.spentUsd} vs ${afterValidate} + ${ownBeforeBlock}`);
  // The well-behaved agents still finish every task although their counters, too, carry the "after" spend.
  assert.deepEqual(Object.values(w.othersCompleted), [2, 2, 2, 2]);
});

test('bad arguments fail with a ConfigError naming the option', async () => {
  await assert.rejects(runDemoCommand(['--tasks', '0'], {}), { name: 'ConfigError', source: 'tollgate demo --tasks' });
  await assert.rejects(runDemoCommand(['--ledger', 'postgres://x'], {}), { name: 'ConfigError', source: 'tollgate demo --ledger' });
  await assert.rejects(runDemoCommand(['--fast'], {}), { name: 'ConfigError' });
});
