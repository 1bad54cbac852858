// Runs every test file with Node's test runner (Node 24 strips the TypeScript types).
// Kept as a script so CI and developers run the exact same command.
import { spawnSync } from 'node:child_process';

const args = ['--test', '--test-concurrency=2', '--test-timeout=300000', ...(process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test/**/*.test.ts'])];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
