import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startEmbeddedPostgres } from '../activities/db';
import {
  CLUSTER_POSTGRES_MAX_CONNECTIONS,
  ensureTemporalServer,
  freeServerPorts,
  startTemporalServer,
} from '../worker/temporal-server';
import { ensureTemporalUi } from '../worker/temporal-ui';

/*
 * `npm run test:cluster`: the tests that `npm test` runs on the Temporal dev server, run again on Temporal Server on
 * PostgreSQL (worker/temporal-server.ts, 4 history shards, SQL visibility): the lead's whole life, escalation in real
 * time and visibility by search attribute; then, on the same server, the cluster's Temporal UI decoding a lead for HQ
 * in a real Chromium (vitest, TEMPORAL_ADDRESS pointing at the server); then the fault suite's quick run with two
 * workers (`npm run faults -- --quick --temporal cluster`), which starts a cluster of its own because it kills
 * PostgreSQL and Temporal. Exits 1 when any part failed.
 */

const TEST_FILES = [
  'test/lead-lifecycle.int.test.ts',
  'test/lead-escalation.int.test.ts',
  'test/lead-visibility.int.test.ts',
  // Only here (vitest.config.ts includes *.cluster.test.ts when LEADLINE_TEST_CLUSTER=1): it needs the UI server.
  'test/temporal-ui.cluster.test.ts',
];

const say = (line: string) => console.log(`[test:cluster] ${line}`);

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: 'inherit' });
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

async function testsOnServer(): Promise<number> {
  const binaries = await ensureTemporalServer(say);
  // Built here, once per version, rather than inside a test's time limit.
  await ensureTemporalUi(say);
  const dir = await mkdtemp(join(tmpdir(), 'leadline-test-cluster-'));
  // PostgreSQL runs as the `postgres` OS user under root and must be able to traverse it.
  await chmod(dir, 0o755);
  const started = Date.now();
  const postgres = await startEmbeddedPostgres({
    dataDir: join(dir, 'postgres'),
    port: await freePort(),
    persistent: false,
    maxConnections: CLUSTER_POSTGRES_MAX_CONNECTIONS,
    adminPassword: randomBytes(18).toString('base64url'),
  });
  try {
    const temporal = await startTemporalServer({
      binaries,
      adminUrl: postgres.adminUrl,
      dataDir: join(dir, 'temporal'),
      ports: await freeServerPorts(),
      historyShards: 4,
      namespace: 'default',
      logFile: join(dir, 'temporal.log'),
    });
    say(
      `Temporal Server at ${temporal.address} (pid ${temporal.pid}) on PostgreSQL, up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    try {
      // The test files' own databases go on the same PostgreSQL server (test/support/global-setup.ts).
      return await run('npx', ['vitest', 'run', ...TEST_FILES], {
        ...process.env,
        TEMPORAL_ADDRESS: temporal.address,
        DATABASE_ADMIN_URL: postgres.adminUrl,
        LEADLINE_TEST_CLUSTER: '1',
      });
    } finally {
      await temporal.stop();
    }
  } finally {
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const tests = await testsOnServer();
  const t1 = Date.now();
  say(
    `tests on Temporal Server: ${tests === 0 ? 'passed' : `FAILED (exit ${tests})`} in ${Math.round((t1 - t0) / 1000)} s`,
  );
  const faults = await run('npm', ['run', 'faults', '--', '--quick', '--temporal', 'cluster'], process.env);
  const t2 = Date.now();
  say(
    `fault suite on Temporal Server: ${faults === 0 ? 'passed' : `FAILED (exit ${faults})`} in ${Math.round((t2 - t1) / 1000)} s`,
  );
  say(`${tests === 0 && faults === 0 ? 'all passed' : 'FAILED'} in ${Math.round((t2 - t0) / 1000)} s`);
  return tests === 0 && faults === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`[test:cluster] could not run: ${(error as Error).stack ?? String(error)}`);
    process.exit(2);
  },
);
