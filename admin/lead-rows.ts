import type pg from 'pg';
import { z } from 'zod';
import { leadRowSchema, type EventEnvelope } from '../activities/event-store';
import { openEvent, openState, sealState, type FieldCrypto } from '../activities/field-crypto';
import { projectLead } from '../activities/lead-activities';
import { diffValues, type Difference, type View } from './differences';

/* A lead as the `leads` row holds it and as its events project it, in one comparable form (`RowImage`). */

const COLUMNS = [
  'status',
  'priority',
  'source',
  'kind',
  'office',
  'agent',
  'stage',
  'stage_deadline',
  'escalation_level',
  'sla_paused',
  'case_number',
  'closed_reason',
  'fingerprint',
  'received_at',
  'version',
] as const;
type Column = (typeof COLUMNS)[number];

/** A `leads` row without `updated_at`, timestamps as ISO strings, in a form both sides of a comparison share. */
export type RowImage = Record<Column, string | number | boolean | null> & { state: unknown };

const LeadRow = leadRowSchema.extend({ lead_id: z.string() });

const EventRow = z.object({
  event_id: z.string(),
  type: z.string(),
  data: z.unknown(),
  metadata: z.object({ actor: z.string(), at: z.string(), commandId: z.string() }),
});

/** A row as stored: its sensitive fields and command id sealed (activities/field-crypto.ts). */
const StoredEventRow = EventRow.extend({
  metadata: z.object({ actor: z.string(), at: z.string(), commandId: z.unknown() }),
});

interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

/**
 * Every row, or one lead's; in memory, which suits an office's read model (a row is a few kB). Sealed fields of the
 * state are opened, so two rows compare by what they hold rather than by their random IVs.
 */
export async function readRows(db: Queryable, crypto: FieldCrypto, leadId?: string): Promise<Map<string, RowImage>> {
  const { rows } = await db.query(
    `SELECT lead_id, ${COLUMNS.join(', ')}, state FROM leads ${leadId === undefined ? '' : 'WHERE lead_id = $1'}`,
    leadId === undefined ? [] : [leadId],
  );
  return new Map(
    rows.map((raw) => {
      const { lead_id: id, stage_deadline: deadline, received_at: receivedAt, state, ...row } = LeadRow.parse(raw);
      const image = {
        ...row,
        stage_deadline: deadline?.toISOString() ?? null,
        received_at: receivedAt.toISOString(),
        state: openState(crypto, id, state),
      };
      return [id, image];
    }),
  );
}

export async function readLogVersions(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query('SELECT lead_id, max(seq)::int AS version FROM lead_events GROUP BY lead_id');
  const LogVersion = z.object({ lead_id: z.string(), version: z.number().int() });
  return new Map(rows.map((raw) => LogVersion.parse(raw)).map((r) => [r.lead_id, r.version]));
}

/** A lead's events, opened (the fold needs them plain). */
export async function readEvents(
  db: Queryable,
  crypto: FieldCrypto,
  leadId: string,
  upTo?: number,
): Promise<EventEnvelope[]> {
  const { rows } = await db.query(
    `SELECT event_id, type, data, metadata FROM lead_events WHERE lead_id = $1 ${upTo === undefined ? '' : 'AND seq <= $2'}
     ORDER BY seq`,
    upTo === undefined ? [leadId] : [leadId, upTo],
  );
  return rows.map((raw) => {
    const stored = StoredEventRow.parse(raw);
    const row = EventRow.parse({ ...stored, ...openEvent(crypto, leadId, stored.type, stored.data, stored.metadata) });
    return { eventId: row.event_id, type: row.type, data: row.data, metadata: row.metadata };
  });
}

/** The row the live path (and the rebuild) writes for these events, its state as `readRows` opens it. */
export function imageOfEvents(crypto: FieldCrypto, leadId: string, events: EventEnvelope[]): RowImage {
  const p = projectLead(undefined, events);
  const stored = openState(crypto, leadId, sealState(crypto, leadId, p.state, 'all').state);
  const iso = (value: string) => new Date(value).toISOString();
  return {
    status: p.status,
    priority: p.priority,
    source: p.source,
    kind: p.kind,
    office: p.office,
    agent: p.agent,
    stage: p.stage,
    stage_deadline: p.stageDeadline === null ? null : iso(p.stageDeadline),
    escalation_level: p.escalationLevel,
    sla_paused: p.slaPaused,
    case_number: p.caseNumber,
    closed_reason: p.closedReason,
    fingerprint: p.fingerprint,
    received_at: iso(p.receivedAt),
    version: events.length,
    // As jsonb would hand it back.
    state: JSON.parse(JSON.stringify(stored ?? null)) as unknown,
  };
}

export function diffImages(leadId: string, views: readonly [View, View], a: RowImage, b: RowImage): Difference[] {
  const differences: Difference[] = COLUMNS.filter((column) => a[column] !== b[column]).map((column) => ({
    leadId,
    views,
    field: column,
    values: [String(a[column]), String(b[column])],
  }));
  return [...differences, ...diffValues(leadId, views, 'state', a.state, b.state)];
}
