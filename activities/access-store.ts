import type pg from 'pg';
import type { AccessAuditEntry, AuditQuery, AuditRow } from '../schemas/audit';
import { LeadIntake } from '../schemas/intake';
import { recordAudit, transaction } from './event-store';
import { fieldCryptoFor, type FieldCrypto } from './field-crypto';

/**
 * What the API's access guard (client/guarded-leads.ts) reads and writes in PostgreSQL: a lead's office, the audit
 * log, and the intake, which is read only together with its audit row.
 */
export function createAccessStore(pool: pg.Pool) {
  return {
    async scopeOf(leadId: string): Promise<{ office: string | null } | undefined> {
      const { rows } = await pool.query<{ office: string | null }>('SELECT office FROM leads WHERE lead_id = $1', [
        leadId,
      ]);
      return rows[0];
    },

    async record(entry: AccessAuditEntry): Promise<void> {
      await recordAudit(pool, entry);
    },

    /** The read and its audit row commit together: a read nobody could account for never happens. */
    async readIntake(leadId: string, audit: AccessAuditEntry): Promise<LeadIntake | undefined> {
      const crypto = fieldCryptoFor(pool);
      return transaction(pool, async (client) => {
        const { rows } = await client.query<{ intake: unknown }>(
          `SELECT data -> 'intake' AS intake FROM lead_events WHERE lead_id = $1 AND seq = 1 AND type = 'LeadReceived'`,
          [leadId],
        );
        const row = rows[0];
        if (row === undefined) return undefined;
        // Sealed at rest (activities/field-crypto.ts): opened only here, after the read is accounted for.
        const intake = LeadIntake.parse(crypto.openIfSealed(leadId, 'intake', row.intake));
        // The stated purpose is free text a person typed about a victim: sealed like the intake it explains.
        const { purpose, ...rest } = audit.detail;
        const detail = purpose === undefined ? rest : { ...rest, purpose: crypto.seal(leadId, 'purpose', purpose) };
        await recordAudit(client, { ...audit, detail });
        return intake;
      });
    },

    async auditPage(query: AuditQuery): Promise<{ items: AuditRow[]; nextCursor: string | null }> {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (query.leadId !== undefined) add('lead_id = ?', query.leadId);
      if (query.actor !== undefined) add('actor = ?', query.actor);
      if (query.from !== undefined) add('at >= ?', query.from);
      if (query.to !== undefined) add('at < ?', query.to);
      if (query.cursor !== undefined) add('id < ?', decodeCursor(query.cursor));
      params.push(query.limit + 1);
      const { rows } = await pool.query<{
        id: string;
        at: Date;
        actor: string;
        lead_id: string | null;
        action: string;
        outcome: string;
        detail: unknown;
      }>(
        `SELECT id::text AS id, at, actor, lead_id, action, outcome, detail FROM audit_log
          ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      const crypto = fieldCryptoFor(pool);
      const items = rows.slice(0, query.limit).map((r) => ({
        id: r.id,
        at: r.at.toISOString(),
        actor: r.actor,
        leadId: r.lead_id,
        action: r.action,
        outcome: r.outcome,
        detail: openPurpose(crypto, r.lead_id, r.detail),
      }));
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor(last.id) : null };
    },
  };
}

/** An audit row's detail as an auditor reads it: a sealed purpose opened (it was sealed under the row's lead). */
function openPurpose(crypto: FieldCrypto, leadId: string | null, detail: unknown): unknown {
  if (leadId === null || typeof detail !== 'object' || detail === null || !('purpose' in detail)) return detail;
  return { ...detail, purpose: crypto.openIfSealed(leadId, 'purpose', detail.purpose) };
}

function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ before: id })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const value = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { before?: unknown }).before;
    if (typeof value === 'string' && /^\d{1,18}$/.test(value)) return value;
  } catch {
    // fall through to the error below
  }
  throw new RangeError('the cursor is not one this server issued');
}
