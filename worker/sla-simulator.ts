import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { z } from 'zod';
import {
  UNASSIGNED,
  clockSourceEventTypes,
  rungs,
  simulateSlaPolicies,
  totals,
  type ClockEvent,
  type LeadLog,
  type SimulationResult,
  type SlaTally,
} from '../domain/sla-simulation';
import type { LeadEvent } from '../schemas/events';
import { OfficeId, Priority, SlaStage, slaStages } from '../schemas/lead';
import { Duration, type SlaPolicy } from '../schemas/sla-policy';
import { loadSlaPolicy, readEnv } from './config';
import { openDatabase, type AdminExitCode } from './leads-admin';
import { slaChartSvg } from './sla-chart';

/*
 * `leadline simulate`: the SLA policy simulator's I/O. It reads the clock's facts from `lead_events` in one read-only
 * transaction and replays them with the pure simulator (domain/sla-simulation.ts). It never asks for a sealed field:
 * the query names the plain ones it needs (times, budgets, priorities, offices, stages, levels), and the pool it
 * reads through has no keyring bound, so nothing sealed could be opened even by mistake.
 */

export interface SimulateOptions {
  /** The proposed policy's file. */
  policy: string;
  /** The policy in force's file; unset: LEADLINE_SLA_POLICY, else the defaults (as the worker loads it). */
  inForce?: string;
  /** Only leads received within this window before the as-of instant, e.g. `90d`. */
  since?: string;
  office?: string;
  /** Replay up to this instant; unset: now, or the log's latest event when that is later. */
  asOf?: string;
  /** Where to draw the comparison (SVG). */
  chart?: string;
  json?: boolean;
}

export interface SimulateIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

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
});
type ClockRow = z.infer<typeof ClockRow>;

/** Fields a clock event reads, as the simulator's query selects them: none is sealed (activities/field-crypto.ts). */
export const SIMULATOR_FIELDS = ['slaBudgetMs', 'priority', 'to', 'office', 'holdUntil', 'stage', 'level'] as const;

const CLOCK_QUERY = `
  SELECT e.lead_id::text AS lead_id, e.type, e.metadata->>'at' AS at,
         -- A safety record carries its priority change as an object: {from, to, slaBudgetMs} (or null).
         (CASE WHEN e.type = 'SafetyRecorded' THEN e.data->'priority'->>'slaBudgetMs'
               ELSE e.data->>'slaBudgetMs' END)::float8 AS sla_budget_ms,
         CASE WHEN e.type = 'SafetyRecorded' THEN NULL ELSE e.data->>'priority' END AS priority,
         CASE WHEN e.type = 'SafetyRecorded' THEN e.data->'priority'->>'to' ELSE e.data->>'to' END AS "to",
         e.data->>'office' AS office, e.data->>'holdUntil' AS hold_until, e.data->>'stage' AS stage,
         (e.data->>'level')::int AS level
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
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const now = await client.query<{ now: Date }>('SELECT now() AS now');
    const result = await client.query(CLOCK_QUERY, [clockSourceEventTypes]);
    await client.query('COMMIT');
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
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
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
      };
    case 'LeadValidated':
    case 'InterviewRequested':
    case 'InterviewCompleted':
      return { type, at, slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs') };
    case 'LeadAssigned':
      return { type, at, office: need(row.office, 'office'), slaBudgetMs: need(row.sla_budget_ms, 'slaBudgetMs') };
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
    case 'InterviewRescheduled':
    case 'NoteAdded':
    case 'StabilisationReminded':
    case 'PartnerAcknowledged':
    case 'PartnerAcknowledgementOverdue':
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

/** `leadline simulate`. Exit codes: 0 done, 2 could not run (a bad policy or option, the database unreachable). */
export async function runSimulate(
  env: NodeJS.ProcessEnv,
  io: SimulateIo,
  options: SimulateOptions,
): Promise<AdminExitCode> {
  const started = performance.now();
  try {
    const cfg = readEnv(env);
    const inForce = policyFrom('the policy in force', options.inForce ?? cfg.LEADLINE_SLA_POLICY, cfg);
    const proposed = policyFrom(`--policy ${options.policy}`, options.policy, cfg);
    const office = officeOption(options.office);
    const window = options.since === undefined ? undefined : durationOption('--since', options.since);
    const asOfOption = options.asOf === undefined ? undefined : instantOption('--as-of', options.asOf);
    if (options.chart !== undefined && !options.chart.toLowerCase().endsWith('.svg')) {
      throw new Error(`--chart ${options.chart}: only SVG is drawn (name the file .svg); PNG is not supported`);
    }
    const db = await openDatabase(cfg, io.err, { keyring: false });
    try {
      const readStart = performance.now();
      const logs = await readClockLogs(db.pool);
      // Now by the database's clock, or the log's latest event when a clock ran ahead (a time-skipping test server's).
      const readMs = Math.max(
        Date.parse(logs.readAt),
        logs.latestEventAt === null ? 0 : Date.parse(logs.latestEventAt),
      );
      if (asOfOption !== undefined && asOfOption > readMs) {
        // Rungs due after the read are not in the log yet: the self-check could only call them missing.
        throw new Error(`--as-of: ${options.asOf} is after the log's last instant (${new Date(readMs).toISOString()})`);
      }
      const asOfMs = asOfOption ?? readMs;
      const since = window === undefined ? undefined : asOfMs - window;
      const leads = logs.leads.filter((lead) => received(lead, since ?? -Infinity, asOfMs));
      const read = performance.now() - readStart;
      const replayStart = performance.now();
      const result = simulateSlaPolicies({
        leads,
        inForce,
        proposed,
        asOf: new Date(asOfMs).toISOString(),
        ...(office === undefined ? {} : { office }),
      });
      const replay = performance.now() - replayStart;
      const report: SimulationReport = {
        ...result,
        inForceVersion: inForce.version,
        proposedVersion: proposed.version,
        changes: policyChanges(inForce, proposed),
        since: since === undefined ? null : new Date(since).toISOString(),
        office: office ?? null,
        runTimeMs: { read: round(read), replay: round(replay), total: round(performance.now() - started) },
      };
      if (options.chart !== undefined) {
        await writeFile(options.chart, slaChartSvg(report));
      }
      io.out(options.json === true ? JSON.stringify(report, null, 2) : formatReport(report, options.chart));
      return 0;
    } finally {
      await db.close();
    }
  } catch (error) {
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 2;
  }
}

/** A lead received within [fromMs, toMs]. */
const received = (lead: LeadLog, fromMs: number, toMs: number) => {
  const first = lead.events[0];
  if (first?.type !== 'LeadReceived') return false;
  const at = Date.parse(first.at);
  return at >= fromMs && at <= toMs;
};

const round = (ms: number) => Math.round(ms * 10) / 10;

function policyFrom(label: string, file: string | undefined, cfg: ReturnType<typeof readEnv>): SlaPolicy {
  try {
    // As the worker reads LEADLINE_SLA_POLICY, LEADLINE_SLA_TIME_SCALE on top, so both policies run on one clock.
    return loadSlaPolicy({ LEADLINE_SLA_POLICY: file, LEADLINE_SLA_TIME_SCALE: cfg.LEADLINE_SLA_TIME_SCALE });
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
}

function officeOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'unassigned' || value === UNASSIGNED) return UNASSIGNED;
  const parsed = OfficeId.safeParse(value);
  if (!parsed.success) {
    throw new Error(`--office: ${parsed.error.issues[0]?.message ?? 'not an office id'} (or "unassigned")`);
  }
  return parsed.data;
}

function durationOption(name: string, value: string): number {
  const parsed = Duration.safeParse(/^\d+$/.test(value) ? Number(value) : value);
  if (!parsed.success) throw new Error(`${name}: ${parsed.error.issues[0]?.message ?? 'not a duration'}`);
  return parsed.data;
}

function instantOption(name: string, value: string): number {
  const ms = Date.parse(value);
  if (!z.iso.datetime({ offset: true }).safeParse(value).success || Number.isNaN(ms)) {
    throw new Error(`${name}: expected an ISO 8601 instant such as 2026-12-01T00:00:00Z`);
  }
  return ms;
}

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

const rungLabel: Record<(typeof rungs)[number], string> = {
  warning: 'warning',
  level1: 'level 1',
  level2: 'level 2',
  level3: 'level 3',
};
const ALL = 'all offices';

function officesOf(...tallies: SlaTally[]): string[] {
  const names = new Set<string>();
  for (const t of tallies) for (const name of [...Object.keys(t.rungs), ...Object.keys(t.breaches)]) names.add(name);
  return [...names].sort();
}

const signed = (n: number) => (n > 0 ? `+${n}` : String(n));

export function formatReport(report: SimulationReport, chart?: string): string {
  const lines: string[] = [];
  const scope = [
    `${report.leads} leads (${report.events} clock events)`,
    report.since === null ? 'the whole log' : `received since ${report.since}`,
    `as of ${report.asOf}`,
    report.office === null ? 'every office' : `office ${report.office}`,
  ];
  lines.push(`SLA policy simulation: ${scope.join(', ')}`);
  lines.push(`in force: ${report.inForceVersion}; proposed: ${report.proposedVersion}`);
  lines.push(
    report.changes.length === 0
      ? 'the proposed policy changes nothing that times the ladder'
      : `the proposed policy changes: ${report.changes.join('; ')}`,
  );
  lines.push('');

  const offices = officesOf(report.recorded, report.inForce, report.proposed);
  const zero = { warning: 0, level1: 0, level2: 0, level3: 0 };
  const rungRows: string[][] = [];
  const addRungRows = (office: string, get: (t: SlaTally) => Record<(typeof rungs)[number], number>) => {
    for (const r of rungs) {
      const [a, b, c] = [get(report.recorded)[r], get(report.inForce)[r], get(report.proposed)[r]];
      if (a === 0 && b === 0 && c === 0) continue;
      rungRows.push([office, rungLabel[r], String(a), String(b), String(c), signed(c - b)]);
    }
  };
  for (const office of offices) addRungRows(office, (t) => t.rungs[office] ?? zero);
  addRungRows(ALL, (t) => totals(t).rungs);
  lines.push('rungs raised');
  lines.push(table(['OFFICE', 'RUNG', 'RECORDED', 'IN FORCE', 'PROPOSED', 'CHANGE'], rungRows));

  const noBreach = { validation: 0, assignment: 0, interview_request: 0, interview: 0, disposition: 0 };
  const breachRows: string[][] = [];
  const addBreachRows = (office: string, get: (t: SlaTally) => Record<SlaStage, number>) => {
    for (const s of slaStages) {
      const [a, b, c] = [get(report.recorded)[s], get(report.inForce)[s], get(report.proposed)[s]];
      if (a === 0 && b === 0 && c === 0) continue;
      breachRows.push([office, s, String(a), String(b), String(c), signed(c - b)]);
    }
  };
  for (const office of offices) addBreachRows(office, (t) => t.breaches[office] ?? noBreach);
  addBreachRows(ALL, (t) => totals(t).breaches);
  lines.push("leads past a stage's budget");
  lines.push(table(['OFFICE', 'STAGE', 'RECORDED', 'IN FORCE', 'PROPOSED', 'CHANGE'], breachRows));

  if (report.inForce.idleAcknowledgements + report.proposed.idleAcknowledgements > 0) {
    lines.push(
      `acknowledgements that held nothing (the replayed ladder was not escalated then): in force ${report.inForce.idleAcknowledgements}, proposed ${report.proposed.idleAcknowledgements}`,
    );
  }
  if (report.leadsOnOtherBudgets > 0) {
    lines.push(
      `${report.leadsOnOtherBudgets} leads recorded budgets other than the policy in force's (begun under another policy)`,
    );
  }
  if (report.selfCheck.length === 0) {
    lines.push(`self-check: the replay under the policy in force gives the recorded rungs for every lead`);
  } else {
    lines.push(
      `self-check: ${report.selfCheck.length} differences between the record and the replay under the policy in force:`,
    );
    for (const d of report.selfCheck) {
      lines.push(
        `  lead ${d.leadId}  ${d.stage} ${rungLabel[d.rung]}  recorded ${d.recorded}  replayed ${d.inForce}  ${d.reason}`,
      );
    }
  }
  if (chart !== undefined) lines.push(`chart: ${chart}`);
  lines.push(
    `run time: ${report.runTimeMs.total} ms (read ${report.runTimeMs.read} ms, replay ${report.runTimeMs.replay} ms)`,
  );
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '  none';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
