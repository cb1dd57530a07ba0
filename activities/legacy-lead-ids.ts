import type pg from 'pg';
import { inReadOnlySnapshot } from './db';

/*
 * Leadline 1.0.0 named a lead submitted with a key (an Idempotency-Key, or a source and external reference) by an
 * unkeyed, version-5-style hash of the key; later releases by an HMAC (client/lead-client.ts). So that a submission
 * retried across the upgrade finds the lead 1.0.0 started instead of starting a second, the API looks for the old id
 * while the store holds any lead named that way. Remove this in 2.0.
 */

/** Whether PostgreSQL holds any lead, or any queued intake, under a 1.0.0 keyed id (a uuid of version 5). */
export async function legacyLeadIdsInUse(pool: pg.Pool): Promise<boolean> {
  return inReadOnlySnapshot(pool, async (client) => {
    await client.query(LEGACY_LEAD_IDS_PLAN);
    const { rows } = await client.query<{ found: boolean }>(LEGACY_LEAD_IDS_IN_USE);
    return rows[0]?.found === true;
  });
}

/**
 * Its question, answered by the partial indexes of migration 0008, which hold only such ids. Left to itself the
 * planner may read a table in full for an EXISTS whose rows it expects to find at once (it has no statistics for the
 * expression), and on a store that never ran 1.0.0 there are none to find: so table scans are made as dear as they
 * can be for this one transaction.
 */
export const LEGACY_LEAD_IDS_PLAN = 'SET LOCAL enable_seqscan = off';
export const LEGACY_LEAD_IDS_IN_USE = `SELECT EXISTS (SELECT 1 FROM leads WHERE substr(lead_id::text, 15, 1) = '5')
    OR EXISTS (SELECT 1 FROM lead_intake_queue WHERE substr(lead_id::text, 15, 1) = '5') AS found`;

/** Finds a lead by a 1.0.0 id in the read model or in the intake queue, whatever its state there. */
export function createLegacyLeadIdLookup(pool: pg.Pool): { holds(leadId: string): Promise<boolean> } {
  return {
    async holds(leadId) {
      const { rows } = await pool.query(
        `SELECT 1 FROM leads WHERE lead_id = $1 UNION ALL SELECT 1 FROM lead_intake_queue WHERE lead_id = $1 LIMIT 1`,
        [leadId],
      );
      return rows.length > 0;
    },
  };
}
