import type pg from 'pg';
import { LeadState } from '../schemas/lead';
import { fieldCryptoFor, openState } from './field-crypto';
import { referenceFingerprints } from './lead-activities';

export interface PartnerLeadStore {
  /**
   * The lead a partner's reference names (its intake's externalReference, under any source), among the leads whose
   * intake named `partnerId`: the first received, so a duplicate submission does not hide the original. Undefined when
   * none does: an unknown reference and another partner's look alike. A lead is found once validated (its fingerprint
   * is written then, a moment after intake).
   */
  find(partnerId: string, reference: string): Promise<{ leadId: string; state: LeadState } | undefined>;
}

export function createPartnerLeadStore(pool: pg.Pool, fingerprintKey: string): PartnerLeadStore {
  return {
    async find(partnerId, reference) {
      const { rows } = await pool.query<{ lead_id: string; state: unknown }>(
        `SELECT lead_id, state FROM leads
          WHERE fingerprint = ANY($1::text[]) AND state->'partner'->>'id' = $2
          ORDER BY received_at, lead_id LIMIT 1`,
        [referenceFingerprints(reference, fingerprintKey), partnerId],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      const state = openState(fieldCryptoFor(pool), row.lead_id, row.state);
      return { leadId: row.lead_id, state: LeadState.parse(state) };
    },
  };
}
