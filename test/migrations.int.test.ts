import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { createPool, migrate, pendingMigrations, waitForMigrations, withDatabase, withLogin } from '../activities/db';
import { withAdmin } from './support/postgres';

const shipped = readdirSync(fileURLToPath(new URL('../migrations/', import.meta.url)))
  .filter((f) => f.endsWith('.sql'))
  .map((f) => f.slice(0, -4))
  .sort();

describe('a process that does not migrate (LEADLINE_ROLE=api)', () => {
  it('waits for the workers to migrate, and names the missing migrations when they do not', async () => {
    const serverAdminUrl = inject('pgAdminUrl');
    const name = `leadline_test_${randomBytes(6).toString('hex')}`;
    await withAdmin(serverAdminUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
    const adminUrl = withDatabase(serverAdminUrl, name);
    // Connected as the application, with only what the migrations grant it.
    const pool = createPool(withLogin(adminUrl, inject('pgAppLogin')), { max: 2 });
    try {
      expect(shipped.length).toBeGreaterThan(3);
      expect(await pendingMigrations(pool)).toEqual(shipped);
      const refused = await waitForMigrations(pool, 300, 50).catch((error: unknown) => error);
      expect(String(refused)).toContain(`the database lacks migrations ${shipped.join(', ')}`);
      expect(String(refused)).toContain('LEADLINE_ROLE=worker');

      const waiting = waitForMigrations(pool, 30_000, 50);
      waiting.catch(() => undefined); // awaited below; a rejection meanwhile must not go unhandled
      await migrate(adminUrl);
      await expect(waiting).resolves.toBeUndefined();
      expect(await pendingMigrations(pool)).toEqual([]);
    } finally {
      await pool.end();
      await withAdmin(serverAdminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
      );
    }
  });
});
