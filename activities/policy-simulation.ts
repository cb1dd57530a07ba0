/**
 * The SLA policy simulator's reading of the log and its report, shared by `leadline simulate` and HQ's
 * `POST /reports/simulations`: the clock's facts from `lead_events` in one read-only transaction, replayed by the pure
 * simulator (domain/sla-simulation.ts) under the policy in force and a proposed one. It never asks for a sealed field:
 * the query names the plain ones it needs (times, budgets, priorities, offices, stages, levels, whether an assignment
 * was routed, the partner clock's acknowledgement budget, never the partner's id), and the callers read
 * through a pool with no keyring bound, so nothing sealed could be opened even by mistake.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { z } from 'zod';
import { inReadOnlySnapshot } from './db';
import {
  clockSourceEventTypes,
  simulateSlaPolicies,
  type ClockEvent,
  type LeadLog,
  type SimulationResult,
} from '../domain/sla-simulation';
import type { LeadEvent } from '../schemas/events';
import { Priority, SlaStage, slaStages } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';

/** A row of the query below: only plain fields, each nullable because not every event type has it. */
const ClockRow = z.object({
  lead_id: z.string(),
  type: z.enum(clockSourceEventTypes as [LeadEvent['type'], ...LeadEvent['type'][]]),
  at: z.iso.datetime({ offset: true }),
  sla_budget_ms: z.number().nonnegative().nullable(),
  priority: Priority.nullable(),
  to: Priority.nullable(),
  office: z.string().nullable(),
  hold_until: z.string().nullable(),
  stage: SlaStage.nullable(),
  level: z.number().int().min(1).max(3).nullable(),
  routed: z.boolean().nullable(),
  partner_budget_ms: z.number().nonnegative().nullable(),
});
type ClockRow = z.infer<typeof ClockRow>;

/** Fields a clock event reads, as the simulator's query selects them: none is sealed (activities/field-crypto.ts). */
export const SIMULATOR_FIELDS = [
  'slaBudgetMs',
  'priority',
  'to',
  'office',
  'holdUntil',
  'stage',
  'level',
  'routed',
  // LeadReceived's `partner`: only its acknowledgementBudgetMs is read.
  'partner',
] as const;

const CLOCK_QUERY = `
  SELECT e.lead_id::text AS lead_id, e.type, e.metadata->>'at' AS at,
         -- A safety record carries its priority change as an object: {from, to, slaBudgetMs} (or null).
         (CASE WHEN e.type = 'SafetyRecorded' THEN e.data->'priority'->>'slaBudgetMs'
               ELSE e.data->>'slaBudgetMs' END)::float8 AS sla_budget_ms,
         CASE WHEN e.type = 'SafetyRecorded' THEN NULL ELSE e.data->>'priority' END AS priority,
         CASE WHEN e.type = 'SafetyRecorded' THEN e.data->'priority'->>'to' ELSE e.data->>'to' END AS "to",
         e.data->>'office' AS office, e.data->>'holdUntil' AS hold_until, e.data->>'stage' AS stage,
         (e.data->>'level')::int AS level,
         (e.data->>'routed')::boolean AS routed,
         (e.data->'partner'->>'acknowledgementBudgetMs')::float8 AS partner_budget_ms
    FROM lead_events e
   WHERE e.type = ANY($1::text[])
   ORDER BY e.lead_id, e.seq`;

export interface ClockLogs {
  leads: LeadLog[];
  rows: number;
  /** The database's clock at the read, and the latest event's time in what it read. */
  readAt: string;
  latestEventAt: string | null;
}

/** Every lead's clock events, in one read-only snapshot. */
export async function readClockLogs(pool: pg.Pool): Promise<ClockLogs> {
  const { now, result } = await inReadOnlySnapshot(pool, async (client) => ({
    now: await client.query<{ now: Date }>('SELECT now() AS now'),
    result: await client.query(CLOCK_QUERY, [clockSourceEventTypes]),
  }));
  const leads: LeadLog[] = [];
  let latest: number | null = null;
  for (const raw of result.rows) {
    const row = ClockRow.parse(raw);
    const event = clockEventOfRow(row);
    if (event === null) continue;
    const ms = Date.parse(event.at);
    if (latest === null || ms > latest) latest = ms;
    const last = leads[leads.length - 1];
    if (last?.leadId === row.lead_id) (last.events as ClockEvent[]).push(event);
    else leads.push({ leadId: row.lead_id, events: [event] });
  }
  return {
    leads,
    rows: result.rows.length,
    readAt: (now.rows[0]?.now ?? new Date()).toISOString(),
    latestEventAt: latest === null ? null : new Date(latest).toISOString(),
  };
}

function clockEventOfRow(row: ClockRow): ClockEvent | null {
  const need = <T>(value: T | null, field: string): T => {
    // Names the lead and the field, never a value: the log is the truth, and a row it cannot read is a bug to see.
    if (value === null) throw new Error(`lead ${row.lead_id}: a ${row.type} event has no ${field}`);
    return value;
  };
  const { type, at } = row;
  switch (type) {
    case 'LeadReceived':
      return {
        type,
        at,
        priority: need(row.priority, 'priority'),
        slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs'),
        // No partner clock (a public tip): no budget.
        ...(row.partner_budget_ms === null ? {} : { partnerBudgetMs: row.partner_budget_ms }),
      };
    case 'LeadValidated':
    case 'InterviewRequested':
    case 'InterviewCompleted':
      return { type, at, slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs') };
    case 'LeadAssigned':
      return {
        type,
        at,
        office: need(row.office, 'office'),
        slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs'),
        routed: need(row.routed, 'routed'),
      };
    case 'LeadReassigned':
      return { type, at, office: need(row.office, 'office') };
    case 'LeadRejected':
    case 'CaseOpened':
    case 'LeadClosed':
    case 'SlaPaused':
    case 'SlaResumed':
      return { type, at };
    case 'EscalationAcknowledged':
      return { type, at, holdUntil: need(row.hold_until, 'holdUntil') };
    case 'PriorityChanged':
      return { type, at, to: need(row.to, 'to'), slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs') };
    case 'SlaWarning':
      return { type, at, stage: need(row.stage, 'stage') };
    case 'LeadEscalated':
      return { type, at, stage: need(row.stage, 'stage'), level: need(row.level, 'level') as 1 | 2 | 3 };
    case 'StabilisationPaused':
      return { type: 'SlaPaused', at };
    case 'SafetyRecorded':
      // Recorded without raising the priority: the clock is not touched.
      return row.to === null
        ? null
        : { type: 'PriorityChanged', at, to: row.to, slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs') };
    case 'PartnerAcknowledged':
      return { type, at };
    case 'PartnerAcknowledgementOverdue':
      return { type, at, level: need(row.level, 'level') as 1 | 2 };
    case 'InterviewRescheduled':
    case 'NoteAdded':
    case 'StabilisationReminded':
      return null;
    default: {
      const unreachable: never = type;
      throw new Error(`unknown event type ${String(unreachable)}`);
    }
  }
}

export interface SimulationReport extends SimulationResult {
  inForceVersion: string;
  proposedVersion: string;
  /** What the proposed policy changes, field by field: the reason its counts differ. */
  changes: string[];
  since: string | null;
  office: string | null;
  runTimeMs: { read: number; replay: number; total: number };
}

export interface SimulationRun {
  inForce: SlaPolicy;
  proposed: SlaPolicy;
  /** Only leads received this long before `asOf`; all of them when absent. */
  windowMs?: number;
  /** One office (or the simulator's UNASSIGNED); every office when absent. */
  office?: string;
  /** Replay up to this instant; the log's last instant when absent. An instant after it is refused. */
  asOfMs?: number;
}

/** Reads the log and replays it under both policies; the report says what each would have raised. */
export async function simulatePolicies(pool: pg.Pool, run: SimulationRun): Promise<SimulationReport> {
  const started = performance.now();
  const logs = await readClockLogs(pool);
  // Now by the database's clock, or the log's latest event when a clock ran ahead (a time-skipping test server's).
  const readMs = Math.max(Date.parse(logs.readAt), logs.latestEventAt === null ? 0 : Date.parse(logs.latestEventAt));
  if (run.asOfMs !== undefined && run.asOfMs > readMs) {
    // Rungs due after the read are not in the log yet: the self-check could only call them missing.
    throw new SimulationInputError(
      `asOf: ${new Date(run.asOfMs).toISOString()} is after the log's last instant (${new Date(readMs).toISOString()})`,
    );
  }
  const asOfMs = run.asOfMs ?? readMs;
  const since = run.windowMs === undefined ? undefined : asOfMs - run.windowMs;
  const leads = logs.leads.filter((lead) => received(lead, since ?? -Infinity, asOfMs));
  const read = performance.now() - started;
  const replayStart = performance.now();
  const result = simulateSlaPolicies({
    leads,
    inForce: run.inForce,
    proposed: run.proposed,
    asOf: new Date(asOfMs).toISOString(),
    ...(run.office === undefined ? {} : { office: run.office }),
  });
  const replay = performance.now() - replayStart;
  return {
    ...result,
    inForceVersion: run.inForce.version,
    proposedVersion: run.proposed.version,
    changes: policyChanges(run.inForce, run.proposed),
    since: since === undefined ? null : new Date(since).toISOString(),
    office: run.office ?? null,
    runTimeMs: { read: round(read), replay: round(replay), total: round(performance.now() - started) },
  };
}

/** A simulation asked for something the log cannot answer (the caller's mistake, not an outage). */
export class SimulationInputError extends Error {
  override readonly name = 'SimulationInputError';
}

/** A lead received within [fromMs, toMs]. */
const received = (lead: LeadLog, fromMs: number, toMs: number) => {
  const first = lead.events[0];
  if (first?.type !== 'LeadReceived') return false;
  const at = Date.parse(first.at);
  return at >= fromMs && at <= toMs;
};

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Each field the proposed policy sets otherwise, as `path: in force → proposed`. */
export function policyChanges(inForce: SlaPolicy, proposed: SlaPolicy): string[] {
  const changes: string[] = [];
  const dur = (ms: number) => formatDuration(ms);
  for (const stage of slaStages) {
    for (const priority of ['standard', 'urgent'] as const) {
      const a = inForce.stages[stage][priority];
      const b = proposed.stages[stage][priority];
      if (a !== b) changes.push(`stages.${stage}.${priority}: ${dur(a)} → ${dur(b)}`);
    }
  }
  if (inForce.ladder.warningAt !== proposed.ladder.warningAt) {
    changes.push(`ladder.warningAt: ${inForce.ladder.warningAt} → ${proposed.ladder.warningAt}`);
  }
  inForce.ladder.levels.forEach((a, i) => {
    const b = proposed.ladder.levels[i];
    if (a !== b) changes.push(`ladder.levels[${i}] (level ${i + 1}): ${a} → ${b}`);
  });
  if (inForce.reEscalationInterval !== proposed.reEscalationInterval) {
    changes.push(`reEscalationInterval: ${dur(inForce.reEscalationInterval)} → ${dur(proposed.reEscalationInterval)}`);
  }
  for (const priority of ['standard', 'urgent'] as const) {
    const a = inForce.partner.acknowledgement[priority];
    const b = proposed.partner.acknowledgement[priority];
    if (a !== b) changes.push(`partner.acknowledgement.${priority}: ${dur(a)} → ${dur(b)}`);
  }
  inForce.partner.ladder.forEach((a, i) => {
    const b = proposed.partner.ladder[i];
    if (a !== b) changes.push(`partner.ladder[${i}] (level ${i + 1}, ${i === 0 ? 'supervisor' : 'HQ'}): ${a} → ${b}`);
  });
  if (inForce.timeScale !== proposed.timeScale) changes.push(`timeScale: ${inForce.timeScale} → ${proposed.timeScale}`);
  return changes;
}

/** A duration as its parts, largest first: `4h`, `1d 17s`, `12h 8.5s`. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    const whole = Math.floor(rest / size);
    if (whole > 0) parts.push(`${whole}${unit}`);
    rest -= whole * size;
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest / 1000}s`);
  return parts.join(' ');
}
