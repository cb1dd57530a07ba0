import type pg from 'pg';
import { z } from 'zod';
import { fieldCryptoFor, openEvent, openState, sealEvent, sealState, type FieldCrypto } from './field-crypto';
import { leadColumnsOf, leadFields, type LeadFields } from './read-model';

export interface EventMetadata {
  actor: string;
  at: string;
  commandId: string;
}

export interface EventEnvelope {
  eventId: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

/** One row of the `leads` read model. Timestamps are ISO 8601 strings. */
export interface ReadModelRow extends LeadFields {
  fingerprint: string;
  state: unknown;
}

/**
 * Folds events onto the state kept in the previous `leads` row (undefined for a new lead, and for a
 * rebuild, which passes every event). `version` is owned by the store (the last sequence number written),
 * so a projection may leave it out; one it returns is ignored.
 */
export type Projection = (previousState: unknown, events: EventEnvelope[]) => Omit<ReadModelRow, 'version'>;

export interface AppendResult {
  version: number;
  /** True when these events were already committed by an earlier attempt of the same append. */
  duplicate: boolean;
}

/** An event as the log holds it: its position, and which workflow run wrote it (null when none recorded it). */
export interface LoggedEvent extends EventEnvelope {
  seq: number;
  writtenBy: string | null;
}

export interface EventStore {
  /** `writer` names the workflow run that appends (kept beside each event, so a foreign writer can be told). */
  append(leadId: string, expectedVersion: number, events: EventEnvelope[], writer?: string): Promise<AppendResult>;
  readEvents(leadId: string): Promise<EventEnvelope[]>;
  /** The events after `version`, oldest first. */
  readEventsAfter(leadId: string, version: number): Promise<LoggedEvent[]>;
  readLead(leadId: string): Promise<ReadModelRow | undefined>;
}

/** A writer stated a version that is no longer the lead's: someone else appended first. Retrying will not help. */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';

  constructor(
    readonly leadId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`lead ${leadId}: expected version ${expectedVersion} but it is at version ${actualVersion}`);
  }
}

/** An event id is already recorded elsewhere in the store: the caller reused an id for a different event. */
export class DuplicateEventIdError extends Error {
  override readonly name = 'DuplicateEventIdError';

  constructor(readonly leadId: string) {
    super(`lead ${leadId}: an event id in this append is already recorded at another position`);
  }
}

// Namespace for pg_advisory_xact_lock(int, int), so lead locks cannot collide with other advisory users
// such as node-pg-migrate's single-key lock.
const LEAD_LOCK_NAMESPACE = 0x4c4c_0001;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const eventRowSchema = z.object({
  seq: z.number().int().positive(),
  event_id: z.string(),
  type: z.string(),
  data: z.unknown(),
  metadata: z.object({ actor: z.string(), at: z.string(), commandId: z.string() }),
});

/** A row as PostgreSQL holds it: sensitive fields and the command id sealed (activities/field-crypto.ts). */
const storedEventRowSchema = eventRowSchema.extend({
  metadata: z.object({ actor: z.string(), at: z.string(), commandId: z.unknown() }),
});

const loggedRowSchema = storedEventRowSchema.extend({ written_by: z.string().nullable() });

/** A `leads` row as pg returns it. */
export const leadRowSchema = z.object({
  status: z.string(),
  priority: z.string(),
  source: z.string(),
  kind: z.string(),
  office: z.string().nullable(),
  agent: z.string().nullable(),
  stage: z.string().nullable(),
  stage_deadline: z.date().nullable(),
  escalation_level: z.number().int(),
  sla_paused: z.boolean(),
  case_number: z.string().nullable(),
  closed_reason: z.string().nullable(),
  fingerprint: z.string(),
  received_at: z.date(),
  version: z.number().int(),
  state: z.unknown(),
});

const LEAD_COLUMNS = `status, priority, source, kind, office, agent, stage, stage_deadline, escalation_level, sla_paused,
  case_number, closed_reason, fingerprint, received_at, version, state`;

/**
 * The event store of `pool`'s database. `crypto` seals what is written and opens what is read (by default the keyring
 * bound to the pool at start), so callers see plain events and PostgreSQL holds no personal data readable.
 */
export function createEventStore(
  pool: pg.Pool,
  project: Projection,
  crypto: FieldCrypto = fieldCryptoFor(pool),
): EventStore {
  async function append(
    leadId: string,
    expectedVersion: number,
    events: EventEnvelope[],
    writer?: string,
  ): Promise<AppendResult> {
    assertUuid(leadId, 'lead id');
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0) {
      throw new RangeError(`lead ${leadId}: expected version must be a non-negative integer`);
    }
    for (const event of events) assertUuid(event.eventId, 'event id');
    const newVersion = expectedVersion + events.length;

    try {
      if (events.length > 0 && (await appendInOneStatement(leadId, expectedVersion, events, writer))) {
        return { version: newVersion, duplicate: false };
      }
      // The careful path: a retry of an append already committed, a stale writer, or an empty append.
      return await transaction(pool, async (client) => {
        // Serialises writers of this lead, including the first append, when no leads row exists to lock.
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LEAD_LOCK_NAMESPACE, leadId]);
        // Waits for a running rebuild (which holds an EXCLUSIVE lock on leads) and reads what it wrote.
        const previous = await client.query<{ state: unknown }>(
          'SELECT state FROM leads WHERE lead_id = $1 FOR UPDATE',
          [leadId],
        );
        const actualVersion = await currentVersion(client, leadId);
        if (actualVersion !== expectedVersion) {
          if (await isCommittedRetry(client, leadId, expectedVersion, events)) {
            return { version: newVersion, duplicate: true };
          }
          throw new ConcurrencyError(leadId, expectedVersion, actualVersion);
        }
        if (events.length === 0) return { version: expectedVersion, duplicate: false };

        await insertEvents(client, crypto, leadId, expectedVersion, events, writer);
        const row = project(openState(crypto, leadId, previous.rows[0]?.state), events);
        await upsertLead(client, leadId, newVersion, storedRow(crypto, leadId, row, freshIds(events)));
        await insertAudit(client, appendAudit(crypto, leadId, expectedVersion, events));
        return { version: newVersion, duplicate: false };
      });
    } catch (error) {
      // Only a writer that bypassed the advisory lock can race us to a sequence number; decide, after its
      // commit, whether that writer was an earlier attempt of this same append.
      if (!isUniqueViolation(error)) throw error;
      const client = await pool.connect();
      let broken = false;
      try {
        if (await isCommittedRetry(client, leadId, expectedVersion, events)) {
          return { version: newVersion, duplicate: true };
        }
        const actualVersion = await currentVersion(client, leadId);
        if (actualVersion !== expectedVersion) throw new ConcurrencyError(leadId, expectedVersion, actualVersion);
        throw new DuplicateEventIdError(leadId);
      } catch (error) {
        // A statement given up on (the database deadline) leaves the connection waiting for it: not handed back.
        broken = !(error instanceof ConcurrencyError) && !(error instanceof DuplicateEventIdError);
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  /**
   * The common case in one or two round trips instead of eight: read the row the events fold onto (a new lead
   * has none), then write events, row and audit in one statement that takes the lead's lock and writes only if
   * the lead is still at `expectedVersion`. False when it wrote nothing; the careful path then decides why.
   */
  async function appendInOneStatement(
    leadId: string,
    expectedVersion: number,
    events: EventEnvelope[],
    writer: string | undefined,
  ) {
    let previousState: unknown;
    if (expectedVersion > 0) {
      const { rows } = await pool.query<{ version: number; state: unknown }>(
        'SELECT version, state FROM leads WHERE lead_id = $1',
        [leadId],
      );
      if (rows[0]?.version !== expectedVersion) return false;
      previousState = openState(crypto, leadId, rows[0].state);
    }
    let row: Omit<ReadModelRow, 'version'>;
    try {
      row = project(previousState, events);
    } catch {
      // Events the fold refuses at this version: the careful path says whether they were a stale writer's.
      return false;
    }
    const { rows } = await pool.query<{ version: number | null }>(
      'SELECT leadline_append($1, $2, $3, $4, $5, $6, $7) AS version',
      [
        LEAD_LOCK_NAMESPACE,
        leadId,
        leadId,
        expectedVersion,
        JSON.stringify(eventRows(crypto, leadId, expectedVersion, events, writer)),
        JSON.stringify(leadColumns(storedRow(crypto, leadId, row, freshIds(events)))),
        JSON.stringify(appendAudit(crypto, leadId, expectedVersion, events)),
      ],
    );
    return rows[0]?.version === expectedVersion + events.length;
  }

  async function readEvents(leadId: string): Promise<EventEnvelope[]> {
    assertUuid(leadId, 'lead id');
    const result = await pool.query(
      'SELECT seq, event_id, type, data, metadata FROM lead_events WHERE lead_id = $1 ORDER BY seq',
      [leadId],
    );
    return result.rows.map((row) => openRow(crypto, leadId, row));
  }

  async function readEventsAfter(leadId: string, version: number): Promise<LoggedEvent[]> {
    assertUuid(leadId, 'lead id');
    const result = await pool.query(
      `SELECT seq, event_id, type, data, metadata, written_by FROM lead_events
        WHERE lead_id = $1 AND seq > $2 ORDER BY seq`,
      [leadId, version],
    );
    return result.rows.map((row) => {
      const parsed = loggedRowSchema.parse(row);
      return { ...openRow(crypto, leadId, parsed), seq: parsed.seq, writtenBy: parsed.written_by };
    });
  }

  async function readLead(leadId: string): Promise<ReadModelRow | undefined> {
    assertUuid(leadId, 'lead id');
    const result = await pool.query<Record<string, unknown>>(`SELECT ${LEAD_COLUMNS} FROM leads WHERE lead_id = $1`, [
      leadId,
    ]);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    const lead = toReadModelRow(leadRowSchema.parse(row));
    return { ...lead, state: openState(crypto, leadId, lead.state) };
  }

  return { append, readEvents, readEventsAfter, readLead };
}

export interface RebuildResult {
  leads: number;
  events: number;
}

/**
 * Recomputes every `leads` row from `lead_events` with the same fold the live path uses, in one
 * transaction. Appends wait for it, so the result is the read model as of its commit.
 */
export async function rebuildReadModel(
  pool: pg.Pool,
  project: Projection,
  options: { actor?: string; crypto?: FieldCrypto } = {},
): Promise<RebuildResult> {
  const crypto = options.crypto ?? fieldCryptoFor(pool);
  return transaction(pool, async (client) => {
    await client.query('LOCK TABLE leads IN EXCLUSIVE MODE');
    const leadIds = await client.query<{ lead_id: string }>(
      'SELECT DISTINCT lead_id FROM lead_events ORDER BY lead_id',
    );
    await client.query('DELETE FROM leads');
    let eventCount = 0;
    // One lead at a time keeps memory bounded by the longest history rather than the whole store.
    for (const { lead_id: leadId } of leadIds.rows) {
      const result = await client.query(
        'SELECT seq, event_id, type, data, metadata FROM lead_events WHERE lead_id = $1 ORDER BY seq',
        [leadId],
      );
      const events = result.rows.map((row) => openRow(crypto, leadId, row));
      eventCount += events.length;
      await upsertLead(client, leadId, events.length, storedRow(crypto, leadId, project(undefined, events), 'all'));
    }
    const counts = { leads: leadIds.rows.length, events: eventCount };
    await insertAudit(client, {
      actor: options.actor ?? 'system:rebuild',
      leadId: null,
      action: 'RebuildReadModel',
      outcome: 'recorded',
      detail: counts,
    });
    return counts;
  });
}

/** Runs `work` in one transaction on a client of its own; a connection that failed mid-way is not given back. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      // The connection itself failed; it must not go back to the pool.
      broken = true;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

async function currentVersion(client: pg.PoolClient, leadId: string): Promise<number> {
  const result = await client.query<{ version: number }>(
    'SELECT coalesce(max(seq), 0) AS version FROM lead_events WHERE lead_id = $1',
    [leadId],
  );
  return result.rows[0]?.version ?? 0;
}

/**
 * True when the events at the sequence numbers this append asked for are exactly these events: an
 * activity that committed, lost its completion and was retried.
 */
async function isCommittedRetry(
  client: pg.PoolClient,
  leadId: string,
  expectedVersion: number,
  events: EventEnvelope[],
): Promise<boolean> {
  if (events.length === 0) return false;
  const result = await client.query<{ seq: number; event_id: string }>(
    'SELECT seq, event_id FROM lead_events WHERE lead_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq',
    [leadId, expectedVersion, expectedVersion + events.length],
  );
  return (
    result.rows.length === events.length &&
    result.rows.every((row, index) => row.event_id === events[index]?.eventId.toLowerCase())
  );
}

async function insertEvents(
  client: pg.PoolClient,
  crypto: FieldCrypto,
  leadId: string,
  expectedVersion: number,
  events: EventEnvelope[],
  writer: string | undefined,
): Promise<void> {
  await client.query(
    `INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata, written_by, key_id)
     SELECT $1, e.seq, e.event_id, e.type, e.data, e.metadata, e.written_by, e.key_id
     FROM jsonb_to_recordset($2::jsonb)
       AS e(seq integer, event_id uuid, type text, data jsonb, metadata jsonb, written_by text, key_id text)`,
    [leadId, JSON.stringify(eventRows(crypto, leadId, expectedVersion, events, writer))],
  );
}

/**
 * `lead_events` rows for an append at `expectedVersion`, as jsonb_to_recordset reads them: sensitive fields and the
 * command id sealed under the current key, whose id the row keeps (`key_id`) so a start can tell which keys the log
 * needs without opening anything.
 */
function eventRows(
  crypto: FieldCrypto,
  leadId: string,
  expectedVersion: number,
  events: EventEnvelope[],
  writer: string | undefined,
) {
  const keyId = crypto.currentKeyId;
  return events.map((event, index) => {
    const { data, metadata } = sealEvent(crypto, leadId, { ...event, data: event.data ?? null });
    return {
      written_by: writer ?? null,
      seq: expectedVersion + index + 1,
      event_id: event.eventId,
      type: event.type,
      data,
      metadata,
      key_id: keyId,
    };
  });
}

/** A stored event opened: what the domain folds. */
function openRow(crypto: FieldCrypto, leadId: string, raw: unknown): EventEnvelope {
  const row = storedEventRowSchema.parse(raw);
  const opened = openEvent(crypto, leadId, row.type, row.data, row.metadata);
  return toEnvelope(eventRowSchema.parse({ ...row, data: opened.data, metadata: opened.metadata }));
}

/** The command ids these events bring: plain in the folded state until `storedRow` turns them into digests. */
function freshIds(events: EventEnvelope[]): Set<string> {
  return new Set(events.map((event) => event.metadata.commandId));
}

/** The read-model row as stored: its state with no readable personal data (see sealState), and the key it needs. */
function storedRow(
  crypto: FieldCrypto,
  leadId: string,
  row: Omit<ReadModelRow, 'version'>,
  fresh: ReadonlySet<string> | 'all',
): Omit<ReadModelRow, 'version'> & { keyId: string | null } {
  const stored = sealState(crypto, leadId, row.state, fresh);
  return { ...row, state: stored.state, keyId: stored.sealed ? crypto.currentKeyId : null };
}

/**
 * The audit row of an append: who recorded which events, by id and type only. Command ids appear as keyed digests: a
 * submission's is the partner's reference.
 */
function appendAudit(
  crypto: FieldCrypto,
  leadId: string,
  expectedVersion: number,
  events: EventEnvelope[],
): AuditEntry {
  return {
    actor: actorOf(events),
    leadId,
    action: events.map((event) => event.type).join(','),
    outcome: 'recorded',
    detail: {
      fromVersion: expectedVersion,
      toVersion: expectedVersion + events.length,
      eventIds: events.map((event) => event.eventId),
      commandIds: [...new Set(events.map((event) => crypto.digest(event.metadata.commandId)))],
    },
  };
}

async function upsertLead(
  client: pg.PoolClient,
  leadId: string,
  version: number,
  row: Omit<ReadModelRow, 'version'> & { keyId: string | null },
): Promise<void> {
  await client.query('SELECT leadline_put_lead($1, $2, $3)', [leadId, version, JSON.stringify(leadColumns(row))]);
}

/** A read-model row by column name, as leadline_put_lead (migrations/0002, 0007) takes it. */
function leadColumns(row: Omit<ReadModelRow, 'version'> & { keyId: string | null }) {
  return { ...leadColumnsOf(row), fingerprint: row.fingerprint, state: row.state ?? null, key_id: row.keyId };
}

/** One row of `audit_log`: who did what to which lead. `detail` holds ids and counts, never personal data. */
export interface AuditEntry {
  actor: string;
  leadId: string | null;
  action: string;
  outcome: string;
  detail: Record<string, unknown>;
}

interface Queryable {
  query(text: string, values: unknown[]): Promise<unknown>;
}

/**
 * Writes an audit row outside an append, e.g. when someone reads a lead's personal data. Pass the
 * transaction's client to make it part of one.
 */
export async function recordAudit(db: pg.Pool | pg.PoolClient, entry: AuditEntry): Promise<void> {
  await insertAudit(db, entry);
}

async function insertAudit(db: Queryable, entry: AuditEntry): Promise<void> {
  await db.query('INSERT INTO audit_log (actor, lead_id, action, outcome, detail) VALUES ($1, $2, $3, $4, $5)', [
    entry.actor,
    entry.leadId,
    entry.action,
    entry.outcome,
    JSON.stringify(entry.detail),
  ]);
}

function actorOf(events: EventEnvelope[]): string {
  const actors = [...new Set(events.map((event) => event.metadata.actor))];
  return actors.join(',');
}

function toEnvelope(row: z.infer<typeof eventRowSchema>): EventEnvelope {
  return {
    eventId: row.event_id,
    type: row.type,
    data: row.data,
    metadata: { actor: row.metadata.actor, at: row.metadata.at, commandId: row.metadata.commandId },
  };
}

function toReadModelRow(row: z.infer<typeof leadRowSchema>): ReadModelRow {
  return { ...leadFields(row), fingerprint: row.fingerprint, state: row.state };
}

function assertUuid(value: string, what: string): void {
  // The offending value is left out: a caller's mistake could have put anything in it.
  if (!UUID.test(value)) throw new TypeError(`${what} is not a UUID`);
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === '23505';
}
