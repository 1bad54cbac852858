// The provider answers the benchmarks' in-memory `fetch` returns: a chat completion and its
// streamed form (with the usage-only chunk), gpt-4o-mini, 22 input and 3 output tokens. No
// sockets, so a benchmark measures the client side alone.

/** A non-streaming chat completion body. */
export const CANNED_COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Atlantic Ocean.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
});

const chunk = (choices: unknown[], usage: unknown = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2024-07-18', choices, usage })}\n\n`;

/** The streamed answer as SSE: role, one chunk per word, finish, the usage-only chunk, `[DONE]`. */
export function cannedSse(words: readonly string[] = ['Atlantic', ' Ocean', '.']): string {
  return (
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]) +
    words.map((w) => chunk([{ index: 0, delta: { content: w }, finish_reason: null }])).join('') +
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]) +
    chunk([], { prompt_tokens: 22, completion_tokens: 3, total_tokens: 25 }) +
    'data: [DONE]\n\n'
  );
}

/** A `fetch` for the SDK client's `fetch` option: the completion, or the SSE when the request body asks to stream. */
export function cannedFetch(sse: string = cannedSse()): (url: unknown, init?: { body?: unknown }) => Promise<Response> {
  return (_url, init) => {
    const stream = typeof init?.body === 'string' && init.body.includes('"stream":true');
    return Promise.resolve(
      new Response(stream ? sse : CANNED_COMPLETION, {
        status: 200,
        headers: { 'content-type': stream ? 'text/event-stream' : 'application/json', 'x-request-id': 'req_bench' },
      }),
    );
  };
}
