/**
 * The machinery that fits tollgate's provider-neutral call core (`../core/`) to the
 * Stainless-generated SDKs (`openai`, `@anthropic-ai/sdk`): the base instrumentation and its
 * shared `create` wrapper, the client hooks, APIPromise watching and stream watching.
 *
 * In the order an SDK instrumentation uses it:
 * - extend {@link StainlessInstrumentation}; in `patch`, `wrapClient(clientProto)` and
 *   `wrapCreate(resourceProto, where, begin)` where `begin(body, client, parent)` starts the
 *   call with `this.tracker.start(spec, parent)` and returns it with its {@link ResultHandlers};
 * - `handlers.onResult(result)`: a parsed body, or a Stream ({@link isSdkStream}) to watch with
 *   {@link wrapStreamIterator}; `handlers.onRawResponse(response)`: {@link readRawResponse};
 * - `displacedRoutes()` names the inference requests (method + path) so the gate holds when
 *   another instrumentation displaced the `create` wrapper (hooks.ts, "Displaced create").
 */
export { isApiPromise, observeApiPromise } from './api-promise.ts';
export type { ApiPromiseLike, ObservedCall, ResultHandlers } from './api-promise.ts';
export { StainlessInstrumentation, readRawResponse, trackedCreate } from './client.ts';
export type { BeginCreate, BegunCall } from './client.ts';
export { kTrackedCall, markOptions, ownCreate, wrapPrepareOptions, wrapRequest } from './hooks.ts';
export type { DisplacedRoutes, PrepareOptions, RequestMethod } from './hooks.ts';
export { isSdkStream, wrapStreamIterator } from './stream.ts';
export type { StreamObserver } from './stream.ts';
