/**
 * Runs the demo: for each phase (before, after, runaway) a fresh stand-in provider and
 * a child process that runs the pipeline under tollgate (tollgate registers global
 * OpenTelemetry providers and patches the SDKs once per process, so phases cannot share
 * one). The parent keeps the stand-in's request log, which is how the demo shows that
 * nothing left the runaway agent once it was blocked.
 */
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStandinServer } from '../standin/server.ts';
import type { PhaseMessage } from './phase-main.ts';
import type { PhaseRequest, PhaseResult } from './phase.ts';
import type { TaskOutcome } from './pipeline.ts';
import { AGENT_HEADER, type DemoPhase } from './scenario.ts';
import { demoStandinRoutes } from './standin-routes.ts';

/** The phases, in the order they run. */
export const DEMO_PHASES: readonly DemoPhase[] = ['before', 'after', 'runaway'];

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Tasks each phase runs. */
  readonly tasks: number;
  /** Ledger spec for the phases (`memory`, `sqlite:<path>`, `redis://…`). */
  readonly ledger: string;
  /** Environment of the phase processes (OTEL_* export settings are read there). */
  readonly env: NodeJS.ProcessEnv;
  /** Called with the outcome of each task as it finishes. */
  readonly onTask?: (phase: DemoPhase, outcome: TaskOutcome, index: number) => void;
  /** Called when a phase starts. */
  readonly onPhase?: (phase: DemoPhase) => void;
  /** What a phase process prints (warnings): passed through. */
  readonly onOutput?: (text: string) => void;
  /**
   * Longest a phase may run.
   * @default 300_000
   */
  readonly phaseTimeoutMillis?: number;
}

/** One request the stand-in provider received. */
export interface StandinRequest {
  /** The agent named by the request's AGENT_HEADER. */
  readonly agent: string;
  readonly path: string;
}

/** One phase as it ran. */
export interface PhaseRun {
  readonly result: PhaseResult;
  /** Every request the phase's stand-in received, in order. */
  readonly standinRequests: readonly StandinRequest[];
}

/** The whole demo as it ran. */
export interface DemoRun {
  readonly tasks: number;
  readonly ledger: string;
  /** Whether spans and metrics were also exported over OTLP. */
  readonly otlp: boolean;
  readonly phases: Readonly<Record<DemoPhase, PhaseRun>>;
}

const ENDPOINT_VARS = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'];

/**
 * The phases' environment: with no OTLP endpoint set, exporters default to `none`, so the
 * demo never tries to reach a collector that is not there.
 */
export function phaseEnv(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; otlp: boolean } {
  const otlp = ENDPOINT_VARS.some((k) => (env[k] ?? '').trim() !== '');
  const out: NodeJS.ProcessEnv = { ...env };
  if (!otlp) {
    out['OTEL_TRACES_EXPORTER'] ??= 'none';
    out['OTEL_METRICS_EXPORTER'] ??= 'none';
    out['OTEL_LOGS_EXPORTER'] ??= 'none';
  }
  return { env: out, otlp };
}

/** Runs the three phases one after the other. Rejects when a phase fails. */
export async function runDemo(options: DemoOptions): Promise<DemoRun> {
  const { env, otlp } = phaseEnv(options.env);
  const phases: Partial<Record<DemoPhase, PhaseRun>> = {};
  for (const phase of DEMO_PHASES) {
    options.onPhase?.(phase);
    const standin = await startStandinServer({ routes: demoStandinRoutes() });
    try {
      const result = await runPhaseProcess(
        { phase, tasks: options.tasks, standinUrl: standin.url, ledger: options.ledger },
        env,
        options,
      );
      phases[phase] = {
        result,
        standinRequests: standin.requests.map((r) => ({ agent: r.headers[AGENT_HEADER] ?? '', path: r.path })),
      };
    } finally {
      await standin.close();
    }
  }
  return { tasks: options.tasks, ledger: options.ledger, otlp, phases: phases as Record<DemoPhase, PhaseRun> };
}

function phaseEntry(): string {
  // ./phase-main.ts when run from source, ./phase-main.js once built.
  const ext = extname(fileURLToPath(import.meta.url));
  return fileURLToPath(new URL(`./phase-main${ext}`, import.meta.url));
}

function runPhaseProcess(request: PhaseRequest, env: NodeJS.ProcessEnv, options: DemoOptions): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [phaseEntry(), JSON.stringify(request)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let result: PhaseResult | undefined;
    let failure: string | undefined;
    let output = '';
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-4000);
      options.onOutput?.(text);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('message', (raw) => {
      const msg = raw as PhaseMessage;
      if (msg.kind === 'task') options.onTask?.(request.phase, msg.outcome, msg.index);
      else if (msg.kind === 'done') result = msg.result;
      else failure = msg.message;
    });
    const timeout = options.phaseTimeoutMillis ?? 300_000;
    const timer = setTimeout(() => {
      failure = `phase ${request.phase} did not finish within ${timeout} ms`;
      child.kill('SIGKILL');
    }, timeout);
    timer.unref();
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`tollgate demo: phase ${request.phase} failed (exit ${String(code)}): ${failure ?? output.trim()}`));
    });
  });
}
