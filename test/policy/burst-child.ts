/**
 * One process of the 4-process burst in utilization.test.ts: opens the shared ledger, runs
 * its share of the burst (burst.ts) and prints the result as one JSON line.
 * argv: ledger spec, JSON BurstSpec.
 */
import { createLedger } from '../../src/ledger/index.ts';
import { closeBurstHarness, runBurst, type BurstSpec } from './burst.ts';

const [spec, json] = process.argv.slice(2) as [string, string];
const ledger = await createLedger(spec);
const result = await runBurst(ledger, JSON.parse(json) as BurstSpec);
await ledger.close();
await closeBurstHarness();
process.stdout.write(JSON.stringify(result) + '\n');
