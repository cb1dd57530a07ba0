import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import pg from 'pg';
import { z } from 'zod';
import { DATABASE_NAME, createPool, startEmbeddedPostgres, withDatabase, withLogin } from '../activities/db';
import { leadRowSchema, rebuildReadModel, recordAudit, type EventEnvelope } from '../activities/event-store';
import { projectLead } from '../activities/lead-activities';
import {
  bindKeyring,
  fieldCryptoFor,
  openEvent,
  openState,
  sealState,
  type FieldCrypto,
} from '../activities/field-crypto';
import { fold, stageDeadline } from '../domain';
import type { LeadEvent } from '../schemas/events';
import { LeadId, LeadState, terminalStatuses } from '../schemas/lead';
import { LEAD_WORKFLOW_TYPE, leadStateQuery, leadWorkflowId, type LeadSnapshot } from '../workflows/messages';
import { LeadPayloadCodec } from '../client/payload-codec';
import { readEnv, temporalConnectionOptions, type LeadlineEnv } from '../activities/config';
import { loadKeyring } from '../activities/keys';

/*
 * The read-model tools behind `npm run leads:rebuild`, `npm run leads:verify` and the CLI's `rebuild` and
 * `verify`. The core takes a pool and a Temporal client; the runners below connect as `npm start` does.
 *
 * Nothing here prints intake data: differences name a `leads` column or a field of the lead's state (which
 * holds no personal data), and values are shown only for fields the state schema knows.
 */

/** Where a lead's data was read from. `live` and `rebuilt` are the read model before and after a rebuild. */
export type View = 'live' | 'rebuilt' | 'workflow' | 'read_model' | 'log';

export interface Difference {
  leadId: string;
  /** The two views that disagree; the second is the reference (the event log, or what it rebuilds to). */
  views: readonly [View, View];
  /** A `leads` column (`escalation_level`), a path in the state (`state.sla.level`), or what is missing (`row`, `execution`). */
  field: string;
  /** Both sides, printable. */
  values: readonly [string, string];
}

export function formatDifference(d: Difference): string {
  return `lead ${d.leadId}  ${d.field}  ${d.views[0]}: ${d.values[0]}  ${d.views[1]}: ${d.values[1]}`;
}

// Rebuild -----------------------------------------------------------------------------------------------

export interface RebuildReport {
  /** Rows of the live read model just before the rebuild. */
  live: number;
  /** Leads the rebuild wrote and events it folded. */
  leads: number;
  events: number;
  /** Leads that took new events between the snapshot and the rebuild; compared at the snapshot's version. */
  movedOn: number;
  differences: Difference[];
}

/**
 * Snapshots the live `leads` rows (every column but `updated_at`), rebuilds the table from `lead_events`
 * with `projectLead` (the live path's fold), and compares the two row by row.
 *
 * The rebuild is in place. `rebuildReadModel` is one transaction under an EXCLUSIVE lock: readers keep
 * seeing the old rows until it commits, appends wait for it, and a failure leaves the live rows untouched,
 * so a shadow table would add no safety. Swapping a shadow table in by rename would: `overdue_leads` and
 * the grants follow the old table, and the application role may not rename it. The snapshot keeps what the
 * live rows were, for the report.
 */
export async function rebuildAndCompare(pool: pg.Pool, options: { actor?: string } = {}): Promise<RebuildReport> {
  const crypto = fieldCryptoFor(pool);
  const before = await inSnapshot(pool, async (client) => ({
    rows: await readRows(client, crypto),
    logVersions: await readLogVersions(client),
  }));
  const { leads, events } = await rebuildReadModel(pool, projectLead, { actor: options.actor ?? 'system:rebuild' });
  const after = await readRows(pool, crypto);

  const differences: Difference[] = [];
  let movedOn = 0;
  const views = ['live', 'rebuilt'] as const;
  for (const leadId of [...new Set([...before.rows.keys(), ...before.logVersions.keys()])].sort()) {
    const live = before.rows.get(leadId);
    const version = before.logVersions.get(leadId);
    if (version === undefined) {
      differences.push({ leadId, views, field: 'row', values: [`version ${live?.version}`, '(absent: no events)'] });
      continue;
    }
    if (live === undefined) {
      differences.push({ leadId, views, field: 'row', values: ['(absent)', `version ${version}`] });
      continue;
    }
    let expected = after.get(leadId);
    // Appends resume once the rebuild commits; a lead that moved on is compared with its log at the snapshot.
    if (expected?.version !== version) {
      movedOn++;
      expected = imageOfEvents(crypto, leadId, await readEvents(pool, crypto, leadId, version));
    }
    differences.push(...diffImages(leadId, views, live, expected));
  }
  return { live: before.rows.size, leads, events, movedOn, differences };
}

// Verify ------------------------------------------------------------------------------------------------

export interface VerifyOptions {
  /** Only workflows on this task queue are Leadline's; unset: every lead workflow in the namespace. */
  taskQueue?: string;
  actor?: string;
  /** Leads checked at once. */
  concurrency?: number;
  /** How long a workflow behind the log (it applies events after they commit) may take to catch up. */
  settleMs?: number;
  /** A query no worker answers in this time stops the run. */
  queryTimeoutMs?: number;
}

export interface VerifyReport {
  /** Leads open in at least one view. */
  checked: number;
  differences: Difference[];
}

/**
 * For every open lead (non-terminal in the read model, a running workflow, or events with no row), compares
 * the workflow's state (by query), the `leads` row (its columns and its `state`) and the fold of its events.
 * The log is the reference. The row and the log are read in one snapshot, after the query, so a workflow can
 * only lag behind them; a lag is retried for `settleMs` before it counts.
 */
export async function verifyOpenLeads(
  pool: pg.Pool,
  client: Client,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const running = await runningLeads(client, options.taskQueue);
  const { rows } = await pool.query<{ lead_id: string }>(
    `SELECT lead_id FROM leads WHERE status <> ALL($1)
     UNION
     SELECT DISTINCT e.lead_id FROM lead_events e WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.lead_id = e.lead_id)`,
    [terminalStatuses],
  );
  const candidates = [...new Set([...rows.map((r) => r.lead_id), ...running])].sort();
  const checks = await mapLimit(candidates, options.concurrency ?? 8, (leadId) =>
    checkLead(pool, client, leadId, running.has(leadId), options),
  );
  const open = checks.filter((c) => c.open);
  const differences = open.flatMap((c) => c.differences);
  // Folding reads every event, the intake's too: the audit says who did it.
  await recordAudit(pool, {
    actor: options.actor ?? 'system:verify',
    leadId: null,
    action: 'VerifyOpenLeads',
    outcome: differences.length === 0 ? 'consistent' : 'differences',
    detail: { checked: open.length, differences: differences.length },
  });
  return { checked: open.length, differences };
}

type WorkflowView = { running: true; snapshot: LeadSnapshot | null } | { running: false; status: string };

interface LeadCheck {
  open: boolean;
  differences: Difference[];
  /** The workflow has not yet applied events the log holds. */
  lagging: boolean;
}

async function checkLead(
  pool: pg.Pool,
  client: Client,
  leadId: string,
  listedRunning: boolean,
  options: VerifyOptions,
): Promise<LeadCheck> {
  const settleBy = Date.now() + (options.settleMs ?? 2_000);
  const crypto = fieldCryptoFor(pool);
  for (;;) {
    const workflow = await workflowView(client, leadId, listedRunning, options.queryTimeoutMs ?? 10_000);
    const stored = await inSnapshot(pool, async (db) => ({
      row: (await readRows(db, crypto, leadId)).get(leadId),
      events: await readEvents(db, crypto, leadId),
    }));
    const check = compareLead(crypto, leadId, workflow, stored.row, stored.events);
    if (!check.lagging || Date.now() >= settleBy) return check;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function compareLead(
  crypto: FieldCrypto,
  leadId: string,
  workflow: WorkflowView,
  row: RowImage | undefined,
  events: EventEnvelope[],
): LeadCheck {
  const differences: Difference[] = [];
  let logState: LeadState | undefined;
  try {
    logState = fold(events as unknown as LeadEvent[]);
  } catch (error) {
    const failure = `does not fold (${(error as Error).name})`;
    return {
      open: true,
      lagging: false,
      differences: [{ leadId, views: ['read_model', 'log'], field: 'log', values: ['-', failure] }],
    };
  }

  const wfState = workflow.running ? workflow.snapshot?.state : undefined;
  const toLog = ['workflow', 'log'] as const;
  if (!workflow.running) {
    if (logState !== undefined && !isFinished(logState.status)) {
      differences.push({
        leadId,
        views: toLog,
        field: 'execution',
        values: [workflow.status, `open (${logState.status})`],
      });
    }
  } else if (wfState === undefined || logState === undefined) {
    if (wfState !== undefined || logState !== undefined) {
      const shown = (s: LeadState | undefined) => (s === undefined ? '(no state)' : `version ${s.version}`);
      differences.push({ leadId, views: toLog, field: 'state', values: [shown(wfState), shown(logState)] });
    }
  } else {
    differences.push(...diffValues(leadId, toLog, 'state', wfState, logState));
    const deadlines = [workflow.snapshot?.stageDeadline ?? null, stageDeadline(logState.sla)] as const;
    if (deadlines[0] !== deadlines[1]) {
      differences.push({
        leadId,
        views: toLog,
        field: 'stage_deadline',
        values: [String(deadlines[0]), String(deadlines[1])],
      });
    }
  }

  const toRow = ['read_model', 'log'] as const;
  if (row === undefined) {
    if (logState !== undefined) {
      differences.push({ leadId, views: toRow, field: 'row', values: ['(absent)', `version ${events.length}`] });
    }
  } else if (events.length === 0) {
    differences.push({ leadId, views: toRow, field: 'row', values: [`version ${row.version}`, '(no events)'] });
  } else {
    differences.push(...diffImages(leadId, toRow, row, imageOfEvents(crypto, leadId, events)));
  }

  const open =
    (workflow.running && (wfState === undefined || !isFinished(wfState.status))) ||
    (row !== undefined && !isFinished(String(row.status))) ||
    (logState !== undefined && !isFinished(logState.status));
  const lagging = workflow.running && (wfState?.version ?? 0) < events.length;
  return { open, differences, lagging };
}

async function workflowView(
  client: Client,
  leadId: string,
  listedRunning: boolean,
  timeoutMs: number,
): Promise<WorkflowView> {
  const handle = client.workflow.getHandle(leadWorkflowId(leadId));
  const withTimeout = <T>(call: () => Promise<T>) => client.withDeadline(Date.now() + timeoutMs, call);
  if (!listedRunning) {
    // Visibility lags; describe is authoritative.
    try {
      const description = await withTimeout(() => handle.describe());
      if (description.status.name !== 'RUNNING') return { running: false, status: description.status.name };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { running: false, status: 'NOT_FOUND' };
      throw error;
    }
  }
  try {
    // A workflow that finished since the listing still answers: its worker replays it.
    return { running: true, snapshot: await withTimeout(() => handle.query(leadStateQuery)) };
  } catch (error) {
    throw new Error(
      `the state query of lead ${leadId} failed (${(error as Error).message}); is a Leadline worker running, with the same LEADLINE_PAYLOAD_KEY?`,
      { cause: error },
    );
  }
}

async function runningLeads(client: Client, taskQueue: string | undefined): Promise<Set<string>> {
  const leads = new Set<string>();
  const query = `WorkflowType = '${LEAD_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
  for await (const execution of client.workflow.list({ query })) {
    if (taskQueue !== undefined && execution.taskQueue !== taskQueue) continue;
    const leadId = /^lead-(.+)$/.exec(execution.workflowId)?.[1];
    if (leadId !== undefined && LeadId.safeParse(leadId).success) leads.add(leadId);
  }
  return leads;
}

const isFinished = (status: string) => (terminalStatuses as readonly string[]).includes(status);

// Rows, events and their comparison ---------------------------------------------------------------------

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
type RowImage = Record<Column, string | number | boolean | null> & { state: unknown };

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
async function readRows(db: Queryable, crypto: FieldCrypto, leadId?: string): Promise<Map<string, RowImage>> {
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

async function readLogVersions(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query('SELECT lead_id, max(seq)::int AS version FROM lead_events GROUP BY lead_id');
  const LogVersion = z.object({ lead_id: z.string(), version: z.number().int() });
  return new Map(rows.map((raw) => LogVersion.parse(raw)).map((r) => [r.lead_id, r.version]));
}

/** A lead's events, opened (the fold needs them plain). */
async function readEvents(db: Queryable, crypto: FieldCrypto, leadId: string, upTo?: number): Promise<EventEnvelope[]> {
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
function imageOfEvents(crypto: FieldCrypto, leadId: string, events: EventEnvelope[]): RowImage {
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

function diffImages(leadId: string, views: readonly [View, View], a: RowImage, b: RowImage): Difference[] {
  const differences: Difference[] = COLUMNS.filter((column) => a[column] !== b[column]).map((column) => ({
    leadId,
    views,
    field: column,
    values: [String(a[column]), String(b[column])],
  }));
  return [...differences, ...diffValues(leadId, views, 'state', a.state, b.state)];
}

/** Field by field down plain objects; arrays and scalars compare whole. */
function diffValues(leadId: string, views: readonly [View, View], path: string, a: unknown, b: unknown): Difference[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => diffValues(leadId, views, `${path}.${key}`, a[key], b[key]));
  }
  if (canonical(a) === canonical(b)) return [];
  return [{ leadId, views, field: path, values: [printable(path, a), printable(path, b)] }];
}

const MAX_SHOWN = 80;

/**
 * A state value for a person to read. Command ids are summarised: a submission's id defaults to the
 * partner's source and external reference. A field the schema does not know is not shown at all.
 */
function printable(path: string, value: unknown): string {
  if (value === undefined) return '(absent)';
  // What the contact-safety rules know of a victim (a minor, unsafe contact) is not for an operator's terminal.
  if (path === 'state.safety' || path.startsWith('state.safety.')) return '(present: personal data, not shown)';
  const schema = schemaAt(path);
  if (schema === undefined) return '(present, not a state field)';
  if (path === 'state.recentCommandIds' && Array.isArray(value)) {
    return `${value.length} command ids #${createHash('sha256').update(canonical(value)).digest('hex').slice(0, 8)}`;
  }
  const shown = typeof value === 'string' ? value : JSON.stringify(knownFields(schema, value));
  return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN - 1)}…` : shown;
}

/** The state schema's node at `state.a.b`, or undefined when the path is not part of it. */
function schemaAt(path: string): z.ZodType | undefined {
  let schema: z.ZodType | undefined = LeadState;
  for (const key of path.split('.').slice(1)) {
    const object = unwrap(schema);
    schema = object instanceof z.ZodObject ? (object.shape as Record<string, z.ZodType>)[key] : undefined;
    if (schema === undefined) return undefined;
  }
  return schema;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while (inner instanceof z.ZodNullable || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner;
}

function knownFields(schema: z.ZodType, value: unknown): unknown {
  const object = unwrap(schema);
  if (!(object instanceof z.ZodObject) || !isPlainObject(value)) return value;
  const shape = object.shape as Record<string, z.ZodType>;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key in shape)
      .map(([key, inner]) => [key, knownFields(shape[key] as z.ZodType, inner)]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with sorted keys, so jsonb's key order does not count as a difference. */
function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) : v,
  );
}

/** A read-only transaction: what it reads is one consistent state of the database. */
async function inSnapshot<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Runs `work` over `items`, at most `limit` at a time, in order of the results; the first failure stops the rest. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

// Connecting as `npm start` does -------------------------------------------------------------------------

export type Say = (line: string) => void;

export interface AdminDatabase {
  pool: pg.Pool;
  /** Ends the pool, and stops the embedded server if this run started it. */
  close(): Promise<void>;
}

/** The login `startEmbeddedPostgres` gives the application when it is not told otherwise (activities/db.ts). */
const EMBEDDED_APP_LOGIN = { user: 'leadline', password: 'leadline-local-app' };

/**
 * DATABASE_URL when set; otherwise the embedded server in LEADLINE_DATA_DIR/postgres: the one `npm start`
 * runs if it answers on EMBEDDED_POSTGRES_PORT, else one started for this run and stopped by `close()`.
 * `keyring: false` binds no keyring, for a tool that reads only plain fields: nothing sealed can be opened through it.
 */
export async function openDatabase(
  cfg: LeadlineEnv,
  say: Say,
  options: { keyring?: boolean } = {},
): Promise<AdminDatabase> {
  // The keyring `npm start` uses: the tools read and fold sealed events, and write audit rows with digests.
  const keyring = options.keyring === false ? undefined : loadKeyring(cfg).keyring;
  const connectedPool = async (url: string, stopping?: () => boolean) => {
    const pool = await connectTo(url, stopping);
    if (keyring !== undefined) bindKeyring(pool, keyring);
    return pool;
  };
  if (cfg.DATABASE_URL !== undefined) {
    const pool = await connectedPool(cfg.DATABASE_URL);
    say(`PostgreSQL      ${redact(cfg.DATABASE_URL)} (from DATABASE_URL)`);
    return { pool, close: () => pool.end() };
  }
  const port = cfg.EMBEDDED_POSTGRES_PORT;
  const url = withDatabase(withLogin(`postgresql://127.0.0.1:${port}/`, EMBEDDED_APP_LOGIN), DATABASE_NAME);
  if (await answers(url, port)) {
    const pool = await connectedPool(url);
    say(`PostgreSQL      ${redact(url)} (embedded, already running)`);
    return { pool, close: () => pool.end() };
  }
  const dataDir = join(cfg.LEADLINE_DATA_DIR, 'postgres');
  // An operator tool works on the database that exists: it never makes a new, empty one in the wrong folder.
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new Error(
      `no Leadline database here: nothing answers on 127.0.0.1:${port} (EMBEDDED_POSTGRES_PORT) and ${dataDir} ` +
        'holds no PostgreSQL cluster. Run this where npm start ran (or set LEADLINE_DATA_DIR to its data folder), ' +
        'or set DATABASE_URL',
    );
  }
  const embedded = await startEmbeddedPostgres({ dataDir, port, persistent: true });
  try {
    let stopping = false;
    const pool = await connectedPool(embedded.appUrl, () => stopping);
    say(`PostgreSQL      ${redact(embedded.appUrl)} (embedded, started for this run, data in ${dataDir})`);
    return {
      pool,
      async close() {
        stopping = true;
        await pool.end();
        await embedded.stop();
      },
    };
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

/** True when Leadline's embedded server answers; false when nothing listens; an error when something else does. */
async function answers(url: string, port: number): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await probe.connect();
    await probe.end();
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ECONNREFUSED') return false;
    throw new Error(
      `something answers on 127.0.0.1:${port} but not as Leadline's embedded PostgreSQL (${code ?? (error as Error).message}); ` +
        'set DATABASE_URL, or EMBEDDED_POSTGRES_PORT to the port npm start uses',
      { cause: error },
    );
  }
}

/** `stopping`: the server is being shut down on purpose, so its goodbye to closing connections is no news. */
async function connectTo(url: string, stopping = () => false): Promise<pg.Pool> {
  const pool = createPool(url, {
    max: 8,
    onIdleError: (error: Error & { code?: string }) => {
      // pg's pool resolves end() before its sockets close; the server's shutdown (57P01) can still reach them.
      if (stopping() && error.code === '57P01') return;
      console.warn(`leadline: idle PostgreSQL connection failed (${error.code ?? 'no code'})`);
    },
  });
  try {
    await pool.query('SELECT 1');
    return pool;
  } catch (error) {
    await pool.end();
    throw new Error(`cannot connect to PostgreSQL at ${redact(url)}: ${(error as Error).message}`, { cause: error });
  }
}

export interface AdminTemporal {
  client: Client;
  close(): Promise<void>;
}

/**
 * TEMPORAL_ADDRESS when set, else the dev server `npm start` runs on TEMPORAL_DEV_PORT; it must be up already.
 * Payloads are decrypted with the key `npm start` uses (LEADLINE_PAYLOAD_KEY, or the data folder's).
 */
export async function openTemporal(cfg: LeadlineEnv, say: Say): Promise<AdminTemporal> {
  const address = cfg.TEMPORAL_ADDRESS ?? `127.0.0.1:${cfg.TEMPORAL_DEV_PORT}`;
  let connection: Connection | undefined;
  try {
    const options = cfg.TEMPORAL_ADDRESS === undefined ? { address } : temporalConnectionOptions(cfg, address);
    connection = await Connection.connect({ ...options, connectTimeout: '3 seconds' });
    const connected = connection;
    await connected.withDeadline(Date.now() + 5_000, () => connected.workflowService.getSystemInfo({}));
  } catch (error) {
    await connection?.close();
    throw new Error(
      `Temporal does not answer at ${address} (${(error as Error).message}): start Leadline with npm start first, or set TEMPORAL_ADDRESS`,
      { cause: error },
    );
  }
  const open = connection;
  try {
    const payloadCodec = new LeadPayloadCodec(loadKeyring(cfg).keyring);
    say(`Temporal        ${address}, namespace ${cfg.TEMPORAL_NAMESPACE}, current key ${payloadCodec.keyId}`);
    const client = new Client({
      connection: open,
      namespace: cfg.TEMPORAL_NAMESPACE,
      dataConverter: { payloadCodecs: [payloadCodec] },
    });
    return { client, close: () => open.close() };
  } catch (error) {
    await open.close();
    throw error;
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

// Runners for the npm scripts and the CLI -------------------------------------------------------------------

export interface AdminIo {
  /** One line of the report, without its newline. */
  out: Say;
  /** Where it connected, and errors. */
  err: Say;
}

/** Exit codes: 0 consistent, 1 differences found, 2 could not run. */
export type AdminExitCode = 0 | 1 | 2;

/** Who the audit log names when none is given: the person at the terminal. */
export function adminActor(env: NodeJS.ProcessEnv): string {
  if (env.LEADLINE_ACTOR) return env.LEADLINE_ACTOR;
  let user = env.USER;
  try {
    user ??= userInfo().username;
  } catch {
    // No passwd entry (a bare container).
  }
  return `admin:${user ?? 'unknown'}`;
}

/** `npm run leads:rebuild` and `leadline rebuild`. */
export async function runRebuild(
  env: NodeJS.ProcessEnv,
  io: AdminIo,
  options: { actor?: string } = {},
): Promise<AdminExitCode> {
  return guarded(io, async () => {
    const db = await openDatabase(readEnv(env), io.err);
    try {
      const report = await rebuildAndCompare(db.pool, { actor: options.actor ?? adminActor(env) });
      io.out(`live read model: ${report.live} rows; rebuilt ${report.leads} leads from ${report.events} events`);
      if (report.movedOn > 0) {
        io.out(`${report.movedOn} leads took new events during the rebuild: compared at the version first read`);
      }
      for (const difference of report.differences) io.out(formatDifference(difference));
      const leads = new Set(report.differences.map((d) => d.leadId)).size;
      io.out(
        report.differences.length === 0
          ? `0 differences: the rebuilt read model equals the live one across ${report.leads} leads`
          : `${plural(report.differences.length, 'difference')} in ${plural(leads, 'lead')}: the rebuilt rows replaced the live ones`,
      );
      return report.differences.length === 0 ? 0 : 1;
    } finally {
      await db.close();
    }
  });
}

/** `npm run leads:verify` and `leadline verify`. */
export async function runVerify(
  env: NodeJS.ProcessEnv,
  io: AdminIo,
  options: { actor?: string } = {},
): Promise<AdminExitCode> {
  return guarded(io, async () => {
    const cfg = readEnv(env);
    const temporal = await openTemporal(cfg, io.err);
    try {
      const db = await openDatabase(cfg, io.err);
      try {
        const report = await verifyOpenLeads(db.pool, temporal.client, {
          taskQueue: cfg.LEADLINE_TASK_QUEUE,
          actor: options.actor ?? adminActor(env),
        });
        for (const difference of report.differences) io.out(formatDifference(difference));
        io.out(`${plural(report.differences.length, 'difference')} across ${report.checked} open leads`);
        return report.differences.length === 0 ? 0 : 1;
      } finally {
        await db.close();
      }
    } finally {
      await temporal.close();
    }
  });
}

async function guarded(io: AdminIo, run: () => Promise<AdminExitCode>): Promise<AdminExitCode> {
  try {
    return await run();
  } catch (error) {
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 2;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
