import type pg from 'pg';
import { stageBudgetMs } from '../../domain/sla';
import type { Priority, SlaStage } from '../../schemas/lead';
import type { SlaPolicy } from '../../schemas/sla-policy';
import { loadSlaPolicy } from '../../activities/config';
import { cpuMeter, type CpuPct } from '../procfs';
import type { BenchStack } from '../stack';
import { mapConcurrent, round, sleep, summarize, type LatencySummary } from '../stats';
import { newTally, submitWithRetry, unroutedIntake } from '../workload';

export interface EscalationResult {
  /** Leads started; submissions that failed for good (after retries) are left out. */
  leads: number;
  submitFailed: number;
  submitRetries: number;
  submitSeconds: number;
  /** Time scales the leads were given: each lead's policy aims its first rung at its own instant in the window. */
  timeScale: { min: number; max: number };
  /** Spread of the first-rung due instants: they must fall inside one minute. */
  dueSpreadSeconds: number;
  /** Leads submitted too late to aim inside the window (submission slower than the window allows). */
  outsideWindow: number;
  /** SLA events measured: every rung due before the cut-off, recorded or not. */
  events: number;
  /** Rungs due before the cut-off with no row by then; their lag counts as (cut-off − due), a lower bound. */
  missing: number;
  /** From the rung's due instant to the event's row in lead_events (recorded_at). */
  lagMs: LatencySummary;
  /** From the due instant to the workflow task that decided it (the event's metadata.at). */
  wakeMs: LatencySummary;
  /** From that workflow task to the row: scheduling and running the recordEvents activity. */
  writeMs: LatencySummary;
  byKind: Record<string, LatencySummary>;
  cpuPct: CpuPct;
  leadIds: string[];
}

const standard = loadSlaPolicy({});
/** An unrouted lead waits in the assignment stage; its first rung is the warning at 75 % of that budget. */
const firstRungMsAtScale1 = standard.ladder.warningAt * standard.stages.assignment.standard;

/** The policy whose first rung for an unrouted standard lead falls `firstRungMs` after validation. */
export function escalationPolicy(firstRungMs: number): SlaPolicy {
  return loadSlaPolicy({ LEADLINE_SLA_TIME_SCALE: firstRungMsAtScale1 / firstRungMs });
}

interface SlaRow {
  lead_id: string;
  type: 'SlaWarning' | 'LeadEscalated';
  data: { stage: SlaStage; deadline: string; level?: number };
  at: string;
  recorded_ms: number;
  priority: Priority;
}

/** When a rung was due: its fraction of the stage budget, read back from the stage deadline the event carries. */
export function dueOf(row: Pick<SlaRow, 'type' | 'data' | 'priority'>, policy: SlaPolicy): number {
  const budget = stageBudgetMs(policy, row.data.stage, row.priority);
  const fraction =
    row.type === 'SlaWarning' ? policy.ladder.warningAt : (policy.ladder.levels[(row.data.level ?? 1) - 1] ?? 1);
  return Date.parse(row.data.deadline) + (fraction - 1) * budget;
}

/**
 * N unrouted leads whose first rungs fall inside one window (default a minute) that opens `firstRungSeconds` after
 * the phase starts. The policy travels with each lead, so each gets the time scale that aims its warning at its own
 * instant, evenly spread over the window in submission order: how fast the leads can be submitted does not change
 * when their timers fire. Lag is measured for every SLA event due before the cut-off (end of window plus grace).
 */
export async function measureEscalation(
  stack: BenchStack,
  options: { count: number; concurrency: number; firstRungSeconds: number; windowSeconds: number },
): Promise<EscalationResult> {
  const start = Date.now();
  const windowStart = start + options.firstRungSeconds * 1000;
  const windowMs = options.windowSeconds * 1000;
  // Routing takes a moment after the submission answers; aim at the instant minus a typical validation delay.
  const minLeadMs = Math.min(15_000, options.firstRungSeconds * 500);
  const policies = new Map<string, SlaPolicy>();
  const aimedAt = new Map<string, number>();
  let outsideWindow = 0;
  const t0 = performance.now();
  const tally = newTally();
  const receipts = await mapConcurrent(Array.from({ length: options.count }), options.concurrency, async (_, i) => {
    const target = windowStart + (windowMs * i) / options.count;
    let aimMs = target - Date.now();
    if (aimMs < minLeadMs) {
      outsideWindow++;
      aimMs = minLeadMs;
    }
    const policy = escalationPolicy(aimMs);
    const aimed = Date.now() + aimMs;
    const leadId = await submitWithRetry(
      stack.leadClient(policy),
      unroutedIntake('ESC'),
      tally,
      Math.max(10, options.count * 0.05),
    );
    if (leadId !== undefined) {
      policies.set(leadId, policy);
      aimedAt.set(leadId, aimed);
    }
    return leadId;
  });
  const ids = receipts.filter((id): id is string => id !== undefined);
  const submitSeconds = (performance.now() - t0) / 1000;
  const meter = cpuMeter(stack.leadlinePid);

  // Wait for the window to pass, then for the last warnings (a healthy system needs no more than the grace).
  const graceMs = 3000;
  await sleep(windowStart + windowMs + graceMs - Date.now());
  const warned = async () =>
    (
      await stack.pool.query<{ n: number }>(
        `SELECT count(DISTINCT lead_id)::int AS n FROM lead_events
          WHERE lead_id = ANY($1::uuid[]) AND type = 'SlaWarning' AND data->>'stage' = 'assignment'`,
        [ids],
      )
    ).rows[0]?.n ?? 0;
  for (let waited = 0; waited < 60_000 && (await warned()) < ids.length; waited += 500) await sleep(500);
  const cutoff = Date.now();
  const cpuPct = meter();

  const rows = await slaRows(stack.pool, ids);
  const validatedAt = await validationTimes(stack.pool, ids);
  const lags: number[] = [];
  const wakes: number[] = [];
  const writes: number[] = [];
  const perKind = new Map<string, number[]>();
  const firstRungDue: number[] = [];
  const add = (kind: string, lag: number) => {
    lags.push(lag);
    perKind.set(kind, [...(perKind.get(kind) ?? []), lag]);
  };
  let missing = 0;
  const byLead = new Map<string, SlaRow[]>();
  for (const row of rows) byLead.set(row.lead_id, [...(byLead.get(row.lead_id) ?? []), row]);
  for (const leadId of ids) {
    const policy = policies.get(leadId) as SlaPolicy;
    const events = byLead.get(leadId) ?? [];
    for (const row of events) {
      const due = dueOf(row, policy);
      if (row.type === 'SlaWarning' && row.data.stage === 'assignment') firstRungDue.push(due);
      if (due > cutoff - graceMs) continue; // just due or not yet: not part of this measurement
      const kind = row.type === 'SlaWarning' ? `warning:${row.data.stage}` : `level${row.data.level}:${row.data.stage}`;
      add(kind, row.recorded_ms - due);
      wakes.push(Date.parse(row.at) - due);
      writes.push(row.recorded_ms - Date.parse(row.at));
    }
    // A rung that was due before the cut-off but has no row: the first rung, or level 1 after a recorded warning.
    const warning = events.find((e) => e.type === 'SlaWarning' && e.data.stage === 'assignment');
    if (warning === undefined) {
      // The assignment clock starts when the lead is validated; without that row, the instant it was aimed at.
      const validated = validatedAt.get(leadId);
      const due =
        validated === undefined
          ? (aimedAt.get(leadId) ?? cutoff)
          : validated + policy.ladder.warningAt * stageBudgetMs(policy, 'assignment', 'standard');
      if (due <= cutoff - graceMs) {
        missing++;
        add('missing', cutoff - due);
      }
    } else {
      const levelOneDue = Date.parse(warning.data.deadline);
      const levelOne = events.some((e) => e.type === 'LeadEscalated' && e.data.level === 1);
      if (!levelOne && levelOneDue <= cutoff - graceMs) {
        missing++;
        add('missing', cutoff - levelOneDue);
      }
    }
  }
  return {
    leads: ids.length,
    submitFailed: tally.failed,
    submitRetries: tally.retries,
    submitSeconds: round(submitSeconds, 2),
    timeScale: {
      min: round(Math.min(...[...policies.values()].map((p) => p.timeScale)), 1),
      max: round(Math.max(...[...policies.values()].map((p) => p.timeScale)), 1),
    },
    dueSpreadSeconds: round((Math.max(...firstRungDue) - Math.min(...firstRungDue)) / 1000, 2),
    outsideWindow,
    events: lags.length,
    missing,
    lagMs: summarize(lags),
    wakeMs: summarize(wakes),
    writeMs: summarize(writes),
    byKind: Object.fromEntries([...perKind].map(([k, v]) => [k, summarize(v)])),
    cpuPct,
    leadIds: ids,
  };
}

async function validationTimes(pool: pg.Pool, ids: string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ lead_id: string; at: string }>(
    `SELECT lead_id, metadata->>'at' AS at FROM lead_events WHERE lead_id = ANY($1::uuid[]) AND type = 'LeadValidated'`,
    [ids],
  );
  return new Map(rows.map((r) => [r.lead_id, Date.parse(r.at)]));
}

async function slaRows(pool: pg.Pool, ids: string[]): Promise<SlaRow[]> {
  const { rows } = await pool.query<SlaRow>(
    `SELECT e.lead_id, e.type, e.data, e.metadata->>'at' AS at,
            extract(epoch FROM e.recorded_at) * 1000 AS recorded_ms, l.priority
       FROM lead_events e JOIN leads l USING (lead_id)
      WHERE e.lead_id = ANY($1::uuid[]) AND e.type IN ('SlaWarning', 'LeadEscalated')`,
    [ids],
  );
  return rows.map((r) => ({ ...r, recorded_ms: Number(r.recorded_ms) }));
}
