/**
 * Child process of exit.test.ts: one chat call through the real openai SDK, tollgate's
 * instrumentation and the budget policy on a Redis ledger, then `process.exit(0)` at once,
 * as a CLI or a short job does. argv: redis URL, cost file to write the span's cost to.
 */
import { writeFileSync } from 'node:fs';
import { resolveConfig } from '../../src/config/index.ts';
import { RedisLedger } from '../../src/ledger/redis.ts';
import { createPriceTable } from '../../src/pricing/index.ts';
import { BudgetPolicy } from '../../src/policy/index.ts';
import { createInputEstimator } from '../../src/tokens/index.ts';
import { startHarness } from '../standin/harness.ts';

const [url, costFile] = process.argv.slice(2) as [string, string];
const ledger = await RedisLedger.connect({ url });
const config = resolveConfig({ env: {}, overrides: { agent: 'exit-job', limits: { dailyUsd: 5 } } });
const policy = new BudgetPolicy({ config, ledger, prices: createPriceTable(), estimator: createInputEstimator() });
const h = await startHarness({ gate: policy, captureMessageContent: false });
await h.client('openai').chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 20 });
writeFileSync(costFile, String(h.spans().at(-1)?.attributes['tollgate.cost.usd']));
process.exit(0);
