#!/usr/bin/env node
// The console's browser tests drive Debian's Chromium (test/support/browser.ts). Like the Temporal binaries, it is
// installed by the project's own set-up: when no Chromium is found (CHROMIUM_PATH or /usr/bin/chromium) and this
// runs as root on a machine with apt-get, it installs Debian's `chromium` package; otherwise it says what to do.
// LEADLINE_SKIP_CHROMIUM=1 skips it (a production install needs no browser). Idempotent and quiet when present.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const path = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
if (process.env.LEADLINE_SKIP_CHROMIUM === '1' || existsSync(path)) process.exit(0);

const root = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (!root || !hasApt) {
  console.warn(
    `[chromium] no Chromium at ${path}: the console's browser tests need one. Install Debian's package ` +
      '(sudo apt-get install chromium) or set CHROMIUM_PATH.',
  );
  process.exit(0);
}
console.log('[chromium] installing Debian chromium for the browser tests (apt-get; about a minute)');
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'],
]) {
  const run = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (run.status !== 0) {
    console.warn(`[chromium] apt-get ${args[0]} failed (exit ${run.status}); the browser tests will say so`);
    process.exit(0);
  }
}
console.log(`[chromium] installed: ${existsSync(path) ? path : 'but not at ' + path}`);
