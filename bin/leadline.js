#!/usr/bin/env node
// The CLI is TypeScript run as is: tsx compiles it on load, so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../client/cli.ts');
process.exitCode = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
