#!/usr/bin/env node
// CI's check of `npm run build`'s output as the image runs it: the compiled system (LEADLINE_ROLE=all on embedded
// defaults, in a data folder of its own, on free ports) answers /readyz, the compiled CLI answers --help, and both
// stop cleanly. Prints the times it measured.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function fail(message) {
  console.error(`[check-compiled] ${message}`);
  process.exitCode = 1;
}

const cliStart = Date.now();
const help = spawnSync(process.execPath, [join(root, 'bin', 'leadline.js'), '--help'], { encoding: 'utf8' });
const cliMs = Date.now() - cliStart;
if (help.status !== 0 || !help.stdout.includes('Usage: leadline')) fail(`leadline --help failed: ${help.stderr}`);
else console.log(`[check-compiled] node bin/leadline.js --help: ${cliMs} ms`);

const data = mkdtempSync(join(tmpdir(), 'leadline-compiled-'));
// As root, embedded PostgreSQL runs as the postgres user, who must reach the data folder.
chmodSync(data, 0o755);
const [port, pgPort, temporalPort, uiPort, oidcPort] = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
const started = Date.now();
const child = spawn(process.execPath, [join(root, 'dist', 'node', 'worker', 'start.js')], {
  env: {
    ...process.env,
    LEADLINE_ROLE: 'all',
    LEADLINE_DATA_DIR: data,
    PORT: String(port),
    EMBEDDED_POSTGRES_PORT: String(pgPort),
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    LEADLINE_OIDC_DEV_PORT: String(oidcPort),
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
child.stdout.on('data', (chunk) => (output += chunk));
child.stderr.on('data', (chunk) => (output += chunk));
const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

let ready = false;
for (let i = 0; i < 180 && child.exitCode === null; i += 1) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
    if (response.ok) {
      ready = true;
      break;
    }
  } catch {
    // not listening yet
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
if (ready) console.log(`[check-compiled] node dist/node/worker/start.js: /readyz 200 after ${Date.now() - started} ms`);
else fail(`the compiled system did not become ready:\n${output}`);

child.kill('SIGINT');
const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
const { code, signal } = await exited;
clearTimeout(timer);
if (code !== 0) fail(`the compiled system did not stop cleanly (code ${code}, signal ${signal}):\n${output}`);
rmSync(data, { recursive: true, force: true });
