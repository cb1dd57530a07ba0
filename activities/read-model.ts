import type pg from 'pg';
import { timelineEntry, type TimelineEntry } from '../domain/timeline';
import type { LeadEvent } from '../schemas/events';
import { LeadState, SlaClock } from '../schemas/lead';
import type { LeadListQuery, LeadSummary, StoredLeadSummary } from '../schemas/read-model';
import { fieldCryptoFor, openEvent, openState } from './field-crypto';

const summaryColumns = `lead_id, status, priority, source, kind, office, agent, stage, stage_deadline, escalation_level,
  sla_paused, case_number, closed_reason, received_at, updated_at, version,
  (status NOT IN ('case_opened', 'closed') AND NOT sla_paused AND stage_deadline IS NOT NULL AND stage_deadline < now()) AS overdue`;
/** The stage's clock from the folded state: ids, times and counters only (the state's sealed parts stay unread). */
const clockColumn = `state->'sla' AS sla`;

/** The `leads` columns that both the event store and the supervisors' read side turn into fields. */
export interface LeadColumns {
  status: string;
  priority: string;
  source: string;
  kind: string;
  office: string | null;
  agent: string | null;
  stage: string | null;
  stage_deadline: Date | null;
  escalation_level: number;
  sla_paused: boolean;
  case_number: string | null;
  closed_reason: string | null;
  received_at: Date;
  version: number;
}

/** Those columns as fields, named as the API names them (the store keeps status and priority as text). */
export type LeadFields = Omit<LeadSummary, 'leadId' | 'updatedAt' | 'overdue' | 'status' | 'priority'> & {
  status: string;
  priority: string;
};

interface SummaryRow extends LeadColumns {
  lead_id: string;
  status: LeadSummary['status'];
  priority: LeadSummary['priority'];
  updated_at: Date;
  overdue: boolean;
}

/** One mapping of those columns, used by both, so a new column is named in one place (with its inverse below). */
export function leadFields<R extends LeadColumns>(
  row: R,
): LeadFields & { status: R['status']; priority: R['priority'] } {
  return {
    status: row.status,
    priority: row.priority,
    source: row.source,
    kind: row.kind,
    office: row.office,
    agent: row.agent,
    stage: row.stage,
    stageDeadline: row.stage_deadline?.toISOString() ?? null,
    escalationLevel: row.escalation_level,
    slaPaused: row.sla_paused,
    caseNumber: row.case_number,
    closedReason: row.closed_reason,
    receivedAt: row.received_at.toISOString(),
    version: row.version,
  };
}

/** The same mapping the other way, for writing a row: `leadFields`' fields by column name (version aside). */
export function leadColumnsOf(fields: Omit<LeadFields, 'version'>) {
  return {
    status: fields.status,
    priority: fields.priority,
    source: fields.source,
    kind: fields.kind,
    office: fields.office,
    agent: fields.agent,
    stage: fields.stage,
    stage_deadline: fields.stageDeadline,
    escalation_level: fields.escalationLevel,
    sla_paused: fields.slaPaused,
    case_number: fields.caseNumber,
    closed_reason: fields.closedReason,
    received_at: fields.receivedAt,
  };
}

function toSummary(row: SummaryRow): LeadSummary {
  return {
    leadId: row.lead_id,
    ...leadFields(row),
    updatedAt: row.updated_at.toISOString(),
    overdue: row.overdue,
  };
}

/**
 * The supervisors' read side over PostgreSQL: the `leads` table and the event log. Sealed fields are opened with the
 * keyring bound to the pool (activities/field-crypto.ts); the timeline then drops them again, as it always has.
 */
export function createLeadReadModel(pool: pg.Pool) {
  const crypto = fieldCryptoFor(pool);
  return {
    async getLead(leadId: string): Promise<{ summary: LeadSummary; state: LeadState } | undefined> {
      const { rows } = await pool.query<SummaryRow & { state: unknown }>(
        `SELECT ${summaryColumns}, state FROM leads WHERE lead_id = $1`,
        [leadId],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      return { summary: toSummary(row), state: LeadState.parse(openState(crypto, leadId, row.state)) };
    },

    /**
     * Overdue first, then the most escalated, then the nearest deadline; an offset cursor pages through. `offices`:
     * only these offices' leads (the caller's scope); `subject`: who "mine" means.
     */
    async listLeads(
      filter: LeadListQuery,
      offices?: readonly string[],
      subject?: string,
    ): Promise<{ items: StoredLeadSummary[]; nextCursor: string | null }> {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (filter.status !== undefined) add('status = ANY(?)', filter.status);
      if (filter.office !== undefined) add('office = ?', filter.office);
      if (offices !== undefined) add('office = ANY(?)', [...offices]);
      if (filter.priority !== undefined) add('priority = ?', filter.priority);
      if (filter.agent !== undefined) add('agent = ?', filter.agent);
      if (filter.unassigned === true) where.push('agent IS NULL');
      if (filter.unassigned === false) where.push('agent IS NOT NULL');
      if (filter.mine !== undefined) {
        if (subject === undefined) throw new RangeError('`mine` needs a signed-in caller');
        add(filter.mine ? 'agent = ?' : 'agent IS DISTINCT FROM ?', subject);
      }
      if (filter.leadId !== undefined) {
        // A range of the primary key, not a LIKE over its text: the index finds the leads.
        add('lead_id >= ?::uuid', uuidOf(filter.leadId.padEnd(32, '0')));
        add('lead_id <= ?::uuid', uuidOf(filter.leadId.padEnd(32, 'f')));
      }
      if (filter.escalated === true) where.push('escalation_level > 0');
      if (filter.escalated === false) where.push('escalation_level = 0');
      const overdueSql = `(status NOT IN ('case_opened', 'closed') AND NOT sla_paused AND stage_deadline < now())`;
      if (filter.overdue === true) where.push(overdueSql);
      if (filter.overdue === false) where.push(`NOT coalesce(${overdueSql}, false)`);
      const offset = filter.cursor === undefined ? 0 : decodeCursor(filter.cursor);
      params.push(filter.limit + 1, offset);
      const { rows } = await pool.query<SummaryRow & { sla: unknown }>(
        `SELECT ${summaryColumns}, ${clockColumn} FROM leads
          ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY overdue DESC, escalation_level DESC, stage_deadline ASC NULLS LAST, received_at DESC, lead_id
          LIMIT $${params.length - 1} OFFSET $${params.length}`,
        params,
      );
      const items = rows.slice(0, filter.limit).map((row) => ({ ...toSummary(row), sla: SlaClock.parse(row.sla) }));
      return { items, nextCursor: rows.length > filter.limit ? encodeCursor(offset + filter.limit) : null };
    },

    /** The PII-free timeline from the event log, or undefined when the lead has no events. */
    async timeline(leadId: string): Promise<TimelineEntry[] | undefined> {
      const { rows } = await pool.query<{ seq: number; type: string; data: unknown; metadata: LeadEvent['metadata'] }>(
        'SELECT seq, type, data, metadata FROM lead_events WHERE lead_id = $1 ORDER BY seq',
        [leadId],
      );
      if (rows.length === 0) return undefined;
      return rows.map((r) => {
        const { data, metadata } = openEvent(crypto, leadId, r.type, r.data, r.metadata);
        return timelineEntry(r.seq, { type: r.type, data, metadata } as LeadEvent);
      });
    },
  };
}

/** 32 hex digits as a uuid's text. */
function uuidOf(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeCursor(cursor: string): number {
  try {
    const value = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown }).o;
    // Past 2^53 an offset is no longer exact, and past 2^63 PostgreSQL refuses it as a bigint: neither was issued here.
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  } catch {
    // fall through to the error below
  }
  throw new RangeError('the cursor is not one this server issued');
}
