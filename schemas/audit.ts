import { z } from 'zod';
import { Iso, LeadId } from './lead';
import { storableString, text } from './text';

/** One row of the audit log as the API writes it: ids, actions and outcomes, never victims' data. */
export interface AccessAuditEntry {
  actor: string;
  leadId: string | null;
  action: string;
  outcome: 'read' | 'refused' | 'recorded' | 'failed';
  detail: Record<string, unknown>;
}

/** GET /audit: filters and a cursor, newest first. */
export const AuditQuery = z.strictObject({
  leadId: LeadId.optional(),
  actor: text(200).optional(),
  from: Iso.optional(),
  to: Iso.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** Opaque cursor from the previous page. */
  cursor: storableString().optional(),
});
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditRow = z.object({
  id: z.string(),
  at: z.string(),
  actor: z.string(),
  leadId: z.string().nullable(),
  action: z.string(),
  outcome: z.string(),
  detail: z.unknown(),
});
export type AuditRow = z.infer<typeof AuditRow>;
