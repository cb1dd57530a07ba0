import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPool, migrate, withDatabase, withLogin } from '../../activities/db';

export interface FreshDatabase {
  /** Superuser URL of the new database. */
  adminUrl: string;
  /** URL of the new database as the application's login role. */
  appUrl: string;
  /** Connected as the application's login role, with only the privileges the migrations grant. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A new, migrated database on the run's PostgreSQL server. */
export async function freshDatabase(): Promise<FreshDatabase> {
  const serverAdminUrl = inject('pgAdminUrl');
  const appLogin = inject('pgAppLogin');
  const name = `leadline_test_${randomBytes(6).toString('hex')}`;

  await withAdmin(serverAdminUrl, async (client) => {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  });
  const adminUrl = withDatabase(serverAdminUrl, name);
  await migrate(adminUrl);
  const appUrl = withLogin(adminUrl, appLogin);
  const pool = createPool(appUrl, { max: 5 });
  // Fails here, with a clear cause, rather than inside the first test, if the login is missing.
  await pool.query('SELECT 1');

  return {
    adminUrl,
    appUrl,
    pool,
    async drop() {
      await pool.end();
      await withAdmin(serverAdminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      });
    },
  };
}

/** Runs `work` on a superuser connection to `url`. */
export async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
