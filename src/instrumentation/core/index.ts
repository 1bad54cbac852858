/**
 * The provider-neutral core of tollgate's client instrumentations: the life of one GenAI call
 * as a span (describe, admit through the budget gate, report the response, usage, an error or
 * a stream's end), the settings every instrumentation shares, and the small text and token
 * helpers. Nothing here knows an SDK; the Stainless clients are fitted to it in `../stainless/`.
 *
 * How a new client instrumentation (one sibling folder of `openai/`, `anthropic/`) uses it:
 *
 * 1. Extend {@link ClientInstrumentation}: `sdk()` names the module and its supported range (other
 *    versions get a loud warning), `patch` / `unpatch` wrap the client's methods with `this._wrap`.
 *    `this.tracker` is the {@link CallTracker}; it follows `setConfig`.
 * 2. In the patched method, skip calls made with tracing suppressed (`isTracingSuppressed`), then
 *    describe the call and start it: `const call = this.tracker.start(spec)` with a {@link CallSpec}
 *    (`provider`, `operation`, `model`, `maxTokens` and the body key that holds it, `stream`, `body`,
 *    server address/port: {@link clientInfoReader} reads them from a client with a `baseURL`).
 *    Record the prompt with `call.recordContent('input', messages)` when `call.capture !== 'NO_CONTENT'`.
 * 3. Admit it before anything is sent: `call.admitBody(spec.body)` gives the body to send (a rewritten
 *    copy when the policy changed the model or `max_tokens`), synchronously when the gate decided so,
 *    else as a promise (`if (b instanceof Promise) b = await b` keeps the no-policy path promise-free);
 *    a refusal ends the call as failed and throws or rejects with the block error
 *    (`BudgetExceededError`): let that reject the caller's call and send nothing.
 *    A client with a per-attempt hook can call `call.beforeAttempt({ body })` on every attempt instead
 *    (it counts retries and re-applies a rewrite).
 * 4. Send with the span active, `call.run(() => original.call(this, ...))`, so transport spans nest.
 * 5. Report how it ended, once (later calls are no-ops, nothing throws):
 *    `call.setResponse({ id, model, finishReasons })` as facts arrive, then
 *    `call.end(usage)` with the provider's usage (priced, and settled with the gate),
 *    `call.endEstimated({ inputText, outputText })` when usage did not come back (counted locally,
 *    flagged estimated), or `call.fail(error, usage?)`. For a stream, watch its events and end the call
 *    on completion, on error and when the consumer breaks out early.
 *
 * Faults inside tollgate go to `reportFault` (warned once through `diag`); the user's call proceeds.
 */
export { ClientInstrumentation, clientInfoReader, loudWarn, perClient, protoOf } from './client-instrumentation.ts';
export type { AnyFunction, ClientInfo, SdkInstrumentationConfig, SdkModule } from './client-instrumentation.ts';
export { resolveContentCapture, resolveSettings } from './settings.ts';
export type { ContentCaptureMode, ResolvedSettings, TollgateInstrumentationConfig } from './settings.ts';
export { collectText, countTokens, serverOf } from './text.ts';
export { CallTracker, errorType, TrackedCall } from './tracked-call.ts';
export type { CallSpec, EstimateInput, ResponseInfo } from './tracked-call.ts';
export { count, isRecord, isThenable, str } from '../../internal/values.ts';
export { reportFault } from '../../internal/warn-once.ts';
