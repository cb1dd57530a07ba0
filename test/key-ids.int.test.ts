import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, withAdmin, type FreshDatabase } from './support/postgres';

let db: FreshDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** Sequential scans PostgreSQL counted on each table, its statistics flushed first. */
async function seqScans(url: string, tables: string[]): Promise<Record<string, number>> {
  return withAdmin(url, async (client) => {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ relname: string; seq_scan: string }>(
      'SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname = ANY($1)',
      [tables],
    );
    return Object.fromEntries(rows.map((r) => [r.relname, Number(r.seq_scan)]));
  });
}

describe('leadline_key_ids() (asked at every start and by /readyz)', () => {
  it('reads no table whole: each key id is a probe of an index (migrations/0009)', async () => {
    const tables = ['leads', 'lead_intake_queue', 'lead_events'];
    await withAdmin(db.adminUrl, async (client) => {
      // Small tables are read whole whatever the indexes; with sequential scans priced out, only a missing index shows.
      await client.query('SET enable_seqscan = off');
      await client.query('SELECT pg_stat_force_next_flush()');
    });
    const before = await seqScans(db.adminUrl, tables);
    await withAdmin(db.adminUrl, async (client) => {
      await client.query('SET enable_seqscan = off');
      const { rows } = await client.query('SELECT key_id FROM leadline_key_ids() AS k(key_id)');
      expect(rows).toEqual([]);
      await client.query('SELECT pg_stat_force_next_flush()');
    });
    const after = await seqScans(db.adminUrl, tables);
    expect(after).toEqual(before);
  });
});
