import { readFile } from 'node:fs/promises';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import { leadIdForSubmission, SUBMITTER } from './cluster';

const scopedKey = (key: string) => `${SUBMITTER}:${key}`;
import type { Priority, SlaStage } from '../../schemas/lead';
import type { SlaPolicy } from '../../schemas/sla-policy';
import { formatDifference } from '../../admin/differences';
import { verifyOpenLeads } from '../../admin/verify';
import { dueOf } from '../phases/escalation';
import { mapConcurrent, round, sleep, summarize } from '../stats';
import { rungPath, type RungPath } from './rung-path';
import type { FaultWindow, Operation, PoisonOperation } from './history';

/*
 * The checker: compares the client's history (what it was told) with what the system holds (PostgreSQL, Temporal,
 * the processes' logs). It reads the history and nothing else of the load's or the nemesis' code, and computes
 * every expectation from the history, the policy and the clock: no result is written down in advance.
 */

export interface Check {
  name: string;
  pass: boolean;
  /** What was counted, and the first offenders by id (never by content). */
  detail: string;
}

export interface CheckContext {
  pool: pg.Pool;
  temporal: Client;
  taskQueue: string;
  policy: SlaPolicy;
  /** Answered operations only (a snapshot taken when the check began). */
  operations: readonly Operation[];
  /** Give healing (the reconciler, the intake forwarder's retries) this long before a lost lead counts. */
  graceMs: number;
  /** A rung due longer ago than this with no event counts as missing. */
  rungSlackMs: number;
  say: (line: string) => void;
  /** The keyed digest the log keeps beside each (sealed) command id: the only way to find a command by its id. */
  digest: (commandId: string) => string;
  /** The percent of the machine's cores busy between two instants, when it was sampled. */
  machineBusyPct?: (fromMs: number, toMs: number) => number | undefined;
}

/** Digests of these command ids, and the way back from a digest to the id. */
function digestsOf(ctx: CheckContext, ids: readonly string[]) {
  const back = new Map(ids.map((id) => [ctx.digest(id), id]));
  return { digests: [...back.keys()], idOf: (digest: string) => back.get(digest) ?? digest };
}

export interface CheckScope {
  /** A worker outage: rungs due while it was down must fire within `onTimeMs` of its return. */
  outage?: FaultWindow;
  onTimeMs?: number;
  /** One worker of several down: rungs due meanwhile must fire within `onTimeMs` of when they were due. */
  takeover?: FaultWindow;
  poison?: { operations: readonly PoisonOperation[]; logFiles: string[]; tag: string };
  /** Leads the nemesis cancelled or terminated: they must run again. */
  targets?: readonly string[];
  /** Leads Temporal ended for good (terminated): each must be healed, and each healing told to HQ. */
  healed?: readonly string[];
  /** PostgreSQL stopped answering meanwhile: every request sent then must still get an answer, and no 500. */
  frozen?: FaultWindow;
}

export interface CheckReport {
  checks: Check[];
  figures: Record<string, number>;
}

const TERMINAL = new Set(['closed', 'case_opened']);
const ok = (status: number | null | undefined) => status !== undefined && status !== null && status < 300;
const first = (ids: Iterable<string>, n = 3) => [...ids].slice(0, n).join(', ');

export async function runChecks(ctx: CheckContext, scope: CheckScope = {}): Promise<CheckReport> {
  const figures: Record<string, number> = {};
  const checks: Check[] = [];
  const acknowledged = new Set(
    ctx.operations.filter((o) => o.kind === 'submit' && ok(o.status) && o.answerLeadId).map((o) => o.answerLeadId!),
  );
  figures.leads_acknowledged = acknowledged.size;
  figures.commands_acknowledged = ctx.operations.filter((o) => o.kind === 'command' && ok(o.status)).length;
  figures.operations = ctx.operations.length;
  figures.unanswered = ctx.operations.filter((o) => o.status === null).length;
  figures.answered_5xx = ctx.operations.filter((o) => (o.status ?? 0) >= 500).length;

  // Lost leads, given time to heal: recorded in PostgreSQL, and running in Temporal (or finished as the log says).
  const started = Date.now();
  let lost: { unrecorded: string[]; notRunning: Map<string, string>; statuses: Record<string, number> };
  for (;;) {
    lost = await findLost(ctx, acknowledged, scope.targets ?? []);
    if ((lost.unrecorded.length === 0 && lost.notRunning.size === 0) || Date.now() - started > ctx.graceMs) break;
    await sleep(2000);
  }
  figures.healed_after_s = round((Date.now() - started) / 1000);
  for (const [status, count] of Object.entries(lost.statuses)) figures[`workflows_${status.toLowerCase()}`] = count;
  checks.push({
    name: 'acknowledged-recorded',
    pass: lost.unrecorded.length === 0,
    detail: `${lost.unrecorded.length} of ${acknowledged.size} leads answered 2xx missing from leads/lead_events${lost.unrecorded.length ? `: ${first(lost.unrecorded)}` : ''}`,
  });
  const notRunning = [...lost.notRunning.entries()];
  const byStatus: Record<string, number> = {};
  for (const [, status] of notRunning) {
    const name = status.split(' ')[0] ?? status;
    byStatus[name] = (byStatus[name] ?? 0) + 1;
  }
  checks.push({
    name: 'open-leads-running',
    pass: notRunning.length === 0,
    detail: `${notRunning.length} open or acknowledged leads without a running workflow after ${figures.healed_after_s} s ${JSON.stringify(byStatus)}${
      notRunning.length
        ? `: ${notRunning
            .slice(0, 3)
            .map(([id, s]) => `${id} ${s}`)
            .join(', ')}`
        : ''
    }`,
  });
  if (scope.targets !== undefined) {
    const stillDown = scope.targets.filter((id) => lost.notRunning.has(id));
    checks.push({
      name: 'targets-running-again',
      pass: stillDown.length === 0,
      detail: `${scope.targets.length - stillDown.length} of ${scope.targets.length} cancelled/terminated leads running again within ${Math.round(ctx.graceMs / 1000)} s`,
    });
  }

  if (scope.healed !== undefined) {
    // Every healing is an alarm: HQ is told, once per healing (a notification of kind lead_healed).
    const { rows } = await ctx.pool.query<{ lead_id: string }>(
      `SELECT DISTINCT lead_id FROM notifications WHERE kind = 'lead_healed' AND lead_id = ANY($1::uuid[])`,
      [scope.healed],
    );
    const told = new Set(rows.map((r) => r.lead_id));
    const silent = scope.healed.filter((id) => !told.has(id));
    checks.push({
      name: 'healing-alarmed',
      pass: silent.length === 0,
      detail: `${scope.healed.length - silent.length} of ${scope.healed.length} terminated leads with a lead_healed notice to HQ${silent.length ? `; none for ${first(silent)}` : ''}`,
    });
  }
  checks.push(await checkDuplicates(ctx, figures));
  checks.push(await checkCommandsDurable(ctx));
  checks.push(await checkVerify(ctx));
  const rungs = await readRungs(ctx);
  checks.push(...checkRungs(ctx, rungs, figures));
  checks.push(await checkNotified(ctx, rungs));
  if (scope.outage !== undefined) {
    checks.push(await checkOnTime(ctx, rungs, scope.outage, scope.onTimeMs ?? 5000, figures));
  }
  if (scope.takeover !== undefined) {
    checks.push(await checkTakeover(ctx, rungs, scope.takeover, scope.onTimeMs ?? 5000, figures));
  }
  if (scope.poison !== undefined) checks.push(...(await checkPoison(ctx, scope.poison)));
  if (scope.frozen !== undefined) checks.push(checkAnsweredWhileFrozen(ctx, scope.frozen, figures));
  await honesty(ctx, figures);
  return { checks, figures };
}

/**
 * A database that answers nothing must not leave callers waiting on it: each request sent while it was frozen is
 * answered (an error, if need be) within the load's own timeout, by the services' deadlines on PostgreSQL and Temporal.
 */
function checkAnsweredWhileFrozen(ctx: CheckContext, window: FaultWindow, figures: Record<string, number>): Check {
  // Sent while it was frozen, or before and still waiting when it froze (those most likely to hang).
  const sent = ctx.operations.filter(
    (o) => o.sentAt < window.recoveredAt && (o.sentAt >= window.startedAt || (o.doneAt ?? Infinity) > window.startedAt),
  );
  const unanswered = sent.filter((o) => o.status === null);
  const waited = sent.filter((o) => o.doneAt !== undefined && o.status !== null).map((o) => o.doneAt! - o.sentAt);
  figures.frozen_requests = sent.length;
  figures.frozen_unanswered = unanswered.length;
  figures.frozen_answer_max_s = round(Math.max(0, ...waited) / 1000);
  figures.frozen_answered_503 = sent.filter((o) => o.status === 503).length;
  figures.frozen_answered_504 = sent.filter((o) => o.status === 504).length;
  figures.frozen_answered_other_5xx = sent.filter(
    (o) => (o.status ?? 0) >= 500 && ![503, 504].includes(o.status!),
  ).length;
  return {
    name: 'answered-while-frozen',
    pass: unanswered.length === 0 && figures.frozen_answered_other_5xx === 0,
    detail:
      `${unanswered.length} of ${sent.length} requests sent while PostgreSQL was frozen (or waiting when it froze) got ` +
      `no answer; the slowest answer took ${figures.frozen_answer_max_s} s; answered 503 ${figures.frozen_answered_503}, ` +
      `504 ${figures.frozen_answered_504}, other 5xx ${figures.frozen_answered_other_5xx}`,
  };
}

async function findLost(ctx: CheckContext, acknowledged: ReadonlySet<string>, targets: readonly string[]) {
  const ids = [...acknowledged];
  const rows = await ctx.pool.query<{ lead_id: string; status: string; last_type: string | null; received: boolean }>(
    `SELECT l.lead_id, l.status,
            (SELECT e.type FROM lead_events e WHERE e.lead_id = l.lead_id ORDER BY seq DESC LIMIT 1) AS last_type,
            EXISTS (SELECT 1 FROM lead_events e WHERE e.lead_id = l.lead_id AND e.type = 'LeadReceived') AS received
       FROM leads l WHERE l.lead_id = ANY($1::uuid[]) OR l.status <> ALL($2::text[])`,
    [ids, [...TERMINAL]],
  );
  const byId = new Map(rows.rows.map((r) => [r.lead_id, r]));
  const unrecorded = ids.filter((id) => !byId.get(id)?.received);
  // Every open lead in the read model must run, whoever submitted it; so must every acknowledged lead and target.
  const toCheck = [...new Set([...byId.keys(), ...ids, ...targets])];
  const statuses: Record<string, number> = {};
  const notRunning = new Map<string, string>();
  await mapConcurrent(toCheck, 8, async (leadId) => {
    const status = await workflowStatus(ctx.temporal, leadId);
    statuses[status] = (statuses[status] ?? 0) + 1;
    const row = byId.get(leadId);
    if (status === 'RUNNING') return;
    // A finished workflow is right only for a lead whose read model and log both say it ended.
    const finishedAsLogSays =
      status === 'COMPLETED' &&
      row !== undefined &&
      TERMINAL.has(row.status) &&
      ['LeadClosed', 'CaseOpened', 'LeadRejected'].includes(row.last_type ?? '');
    if (!finishedAsLogSays) notRunning.set(leadId, `${status}${row ? ` (read model ${row.status})` : ''}`);
  });
  return { unrecorded, notRunning, statuses };
}

async function workflowStatus(temporal: Client, leadId: string): Promise<string> {
  try {
    const description = await temporal.workflow.getHandle(`lead-${leadId}`).describe();
    return description.status.name;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    return 'UNREADABLE';
  }
}

/** One lead per Idempotency-Key, in the answers and in the log; one record per command id and event type. */
async function checkDuplicates(ctx: CheckContext, figures: Record<string, number>): Promise<Check> {
  const answered = new Map<string, Set<string>>();
  for (const o of ctx.operations) {
    if (o.kind !== 'submit' || !ok(o.status) || o.key === undefined || o.answerLeadId === undefined) continue;
    answered.set(o.key, (answered.get(o.key) ?? new Set()).add(o.answerLeadId));
  }
  const twiceAnswered = [...answered.entries()].filter(([, ids]) => ids.size > 1).map(([k]) => k);
  const keys = [...new Set(ctx.operations.filter((o) => o.key !== undefined).map((o) => o.key!))];
  // A submission's command id is its Idempotency-Key as the API scoped it to the submitting service.
  const keyDigests = digestsOf(ctx, keys.map(scopedKey));
  const receivedRows = await ctx.pool.query<{ digest: string; leads: number }>(
    `SELECT metadata->>'commandDigest' AS digest, count(DISTINCT lead_id)::int AS leads FROM lead_events
      WHERE type = 'LeadReceived' AND metadata->>'commandDigest' = ANY($1) GROUP BY 1 HAVING count(DISTINCT lead_id) > 1`,
    [keyDigests.digests],
  );
  const received = { rows: receivedRows.rows.map((r) => ({ key: keyDigests.idOf(r.digest), leads: r.leads })) };
  const commandIds = [...new Set(ctx.operations.filter((o) => o.commandId !== undefined).map((o) => o.commandId!))];
  const commandDigests = digestsOf(ctx, commandIds);
  const twiceRows = await ctx.pool.query<{ digest: string }>(
    `SELECT metadata->>'commandDigest' AS digest FROM lead_events WHERE metadata->>'commandDigest' = ANY($1)
      GROUP BY lead_id, 1, type HAVING count(*) > 1`,
    [commandDigests.digests],
  );
  const twiceRecorded = { rows: twiceRows.rows.map((r) => ({ command_id: commandDigests.idOf(r.digest) })) };
  figures.keys_retried = ctx.operations.filter((o) => o.kind === 'submit' && o.retry).length;
  const bad = [...twiceAnswered, ...received.rows.map((r) => r.key), ...twiceRecorded.rows.map((r) => r.command_id)];
  return {
    name: 'no-duplicates',
    pass: bad.length === 0,
    detail: `${twiceAnswered.length} keys answered with two leads, ${received.rows.length} keys received twice, ${twiceRecorded.rows.length} commands recorded twice (of ${keys.length} keys, ${commandIds.length} commands)${bad.length ? `: ${first(bad)}` : ''}`,
  };
}

/** A command answered 200 is in the log. */
async function checkCommandsDurable(ctx: CheckContext): Promise<Check> {
  const acked = ctx.operations.filter((o) => o.kind === 'command' && o.status === 200).map((o) => o.commandId!);
  const ackedDigests = digestsOf(ctx, acked);
  const found = await ctx.pool.query<{ digest: string }>(
    `SELECT DISTINCT metadata->>'commandDigest' AS digest FROM lead_events WHERE metadata->>'commandDigest' = ANY($1)`,
    [ackedDigests.digests],
  );
  const present = new Set(found.rows.map((r) => ackedDigests.idOf(r.digest)));
  const missing = [...new Set(acked)].filter((id) => !present.has(id));
  return {
    name: 'commands-durable',
    pass: missing.length === 0,
    detail: `${missing.length} of ${new Set(acked).size} commands answered 200 not in lead_events${missing.length ? `: ${first(missing)}` : ''}`,
  };
}

/** `npm run leads:verify`'s comparison, as a function: workflow state, read model and fold of the log agree. */
async function checkVerify(ctx: CheckContext): Promise<Check> {
  try {
    const report = await verifyOpenLeads(ctx.pool, ctx.temporal, {
      taskQueue: ctx.taskQueue,
      actor: 'system:faults',
      settleMs: 5_000,
      queryTimeoutMs: 15_000,
    });
    const leads = new Set(report.differences.map((d) => d.leadId));
    return {
      name: 'verify-consistent',
      pass: report.differences.length === 0,
      detail: `${report.differences.length} differences in ${leads.size} of ${report.checked} open leads${
        report.differences.length ? `: ${report.differences.slice(0, 2).map(formatDifference).join('; ')}` : ''
      }`,
    };
  } catch (error) {
    return {
      name: 'verify-consistent',
      pass: false,
      detail: `could not run: ${(error as Error).message.slice(0, 200)}`,
    };
  }
}

interface Rung {
  eventId: string;
  leadId: string;
  type: 'SlaWarning' | 'LeadEscalated';
  stage: SlaStage;
  level: number;
  deadline: string;
  recordedMs: number;
  dueMs: number;
}

interface RungData {
  rungs: Rung[];
  /** Rungs the read model says are due (open, unpaused leads, the current stage) and the log does not hold. */
  missing: { leadId: string; type: string; stage: string; level: number; dueMs: number }[];
  checkedAt: number;
}

const rungKey = (r: { leadId: string; type: string; stage: string; level: number }) =>
  `${r.leadId}/${r.stage}/${r.type}/${r.level}`;

async function readRungs(ctx: CheckContext): Promise<RungData> {
  const checkedAt = Date.now();
  const { rows } = await ctx.pool.query<{
    event_id: string;
    lead_id: string;
    type: 'SlaWarning' | 'LeadEscalated';
    data: { stage: SlaStage; deadline: string; level?: number };
    recorded_ms: number;
    priority: Priority;
  }>(
    `SELECT e.event_id, e.lead_id, e.type, e.data, extract(epoch FROM e.recorded_at) * 1000 AS recorded_ms, l.priority
       FROM lead_events e JOIN leads l USING (lead_id) WHERE e.type IN ('SlaWarning', 'LeadEscalated')`,
  );
  const rungs = rows.map((r) => ({
    eventId: r.event_id,
    leadId: r.lead_id,
    type: r.type,
    stage: r.data.stage,
    level: r.type === 'SlaWarning' ? 0 : (r.data.level ?? 1),
    deadline: r.data.deadline,
    recordedMs: Number(r.recorded_ms),
    dueMs: dueOf({ type: r.type, data: r.data, priority: r.priority }, ctx.policy),
  }));
  const recorded = new Set(rungs.map(rungKey));
  const open = await ctx.pool.query<{ lead_id: string; stage: SlaStage; deadline_ms: number; priority: Priority }>(
    `SELECT lead_id, stage, extract(epoch FROM stage_deadline) * 1000 AS deadline_ms, priority FROM leads
      WHERE status <> ALL($1::text[]) AND NOT sla_paused AND stage IS NOT NULL AND stage_deadline IS NOT NULL`,
    [[...TERMINAL]],
  );
  const missing: RungData['missing'] = [];
  for (const lead of open.rows) {
    const deadline = new Date(Number(lead.deadline_ms)).toISOString();
    const expected = [
      { type: 'SlaWarning' as const, level: 0 },
      ...[1, 2, 3].map((level) => ({ type: 'LeadEscalated' as const, level })),
    ];
    for (const { type, level } of expected) {
      const dueMs = dueOf({ type, data: { stage: lead.stage, deadline, level }, priority: lead.priority }, ctx.policy);
      const rung = { leadId: lead.lead_id, type, stage: lead.stage, level, dueMs };
      if (dueMs < checkedAt - ctx.rungSlackMs && !recorded.has(rungKey(rung))) missing.push(rung);
    }
  }
  return { rungs, missing, checkedAt };
}

function checkRungs(ctx: CheckContext, data: RungData, figures: Record<string, number>): Check[] {
  const seen = new Map<string, number>();
  for (const r of data.rungs) seen.set(rungKey(r), (seen.get(rungKey(r)) ?? 0) + 1);
  const twice = [...seen.entries()].filter(([, n]) => n > 1).map(([k]) => k);
  const lag = summarize(data.rungs.map((r) => r.recordedMs - r.dueMs));
  figures.rungs = data.rungs.length;
  figures.rung_lag_p50_ms = lag.p50;
  figures.rung_lag_p99_ms = lag.p99;
  figures.rung_lag_max_ms = lag.max;
  figures.rungs_missing = data.missing.length;
  return [
    {
      name: 'rungs-once',
      pass: twice.length === 0,
      detail: `${twice.length} rungs recorded more than once among ${data.rungs.length}${twice.length ? `: ${first(twice)}` : ''}`,
    },
    {
      name: 'rungs-fired',
      pass: data.missing.length === 0,
      detail: `${data.missing.length} rungs due more than ${ctx.rungSlackMs / 1000} s ago not recorded${
        data.missing.length ? `: ${first(data.missing.map(rungKey))}` : ''
      }`,
    },
  ];
}

/** Each rung recorded is notified (rows delivered); no notice for an event the log does not hold. */
async function checkNotified(ctx: CheckContext, data: RungData): Promise<Check> {
  // A healing's notice to HQ (kind lead_healed) is caused by the healing, not by an event: it has its own check.
  const { rows } = await ctx.pool.query<{ cause: string; status: string }>(
    `SELECT split_part(idempotency_key, ':', 1) AS cause, status FROM notifications WHERE kind <> 'lead_healed'`,
  );
  const events = await ctx.pool.query<{ event_id: string }>(
    `SELECT event_id FROM lead_events WHERE event_id::text = ANY($1)`,
    [[...new Set(rows.map((r) => r.cause))]],
  );
  const known = new Set(events.rows.map((r) => r.event_id));
  const phantom = new Set(rows.filter((r) => !known.has(r.cause)).map((r) => r.cause));
  const byCause = new Map<string, string[]>();
  for (const r of rows) byCause.set(r.cause, [...(byCause.get(r.cause) ?? []), r.status]);
  // A rung recorded a moment ago may still be on its way out; older ones must be delivered.
  const settled = data.rungs.filter((r) => r.recordedMs < data.checkedAt - ctx.rungSlackMs);
  const unnotified = settled.filter((r) => !(byCause.get(r.eventId) ?? []).length).map((r) => r.eventId);
  const undelivered = settled
    .filter((r) => (byCause.get(r.eventId) ?? []).some((s) => s !== 'delivered'))
    .map((r) => r.eventId);
  const bad = unnotified.length + undelivered.length + phantom.size;
  return {
    name: 'rungs-notified',
    pass: bad === 0,
    detail: `of ${settled.length} rungs: ${unnotified.length} without notice, ${undelivered.length} not delivered; ${phantom.size} notices for events not in the log${bad ? `: ${first([...unnotified, ...undelivered, ...phantom])}` : ''}`,
  };
}

/** Rungs due while the worker was down fire within `limitMs` of its return; later ones within `limitMs` of due. */
async function checkOnTime(
  ctx: CheckContext,
  data: RungData,
  outage: FaultWindow,
  limitMs: number,
  figures: Record<string, number>,
): Promise<Check> {
  const down = outage.workerDownAt ?? outage.startedAt;
  const back = outage.workerBackAt ?? outage.recoveredAt;
  const during = data.rungs.filter((r) => r.dueMs >= down && r.dueMs <= back);
  const lateness = during.map((r) => r.recordedMs - back);
  const missed = data.missing.filter((m) => m.dueMs >= down && m.dueMs <= back);
  // A rung still missing counts as late by the time elapsed since the worker's return.
  lateness.push(...missed.map(() => data.checkedAt - back));
  const summary = summarize(lateness);
  figures.rungs_due_while_down = during.length + missed.length;
  figures.late_after_return_p50_ms = summary.p50;
  figures.late_after_return_max_ms = summary.max;
  const worst = lateness.length === 0 ? 0 : summary.max;
  const why = await explainLatest(ctx, during, back, figures, missed.length > 0);
  return {
    name: 'rungs-on-time-after-outage',
    pass: worst <= limitMs && missed.length === 0,
    detail: `${during.length + missed.length} rungs due during ${round((back - down) / 1000)} s down: latest ${round(worst / 1000)} s after the worker returned (limit ${limitMs / 1000} s), ${missed.length} never fired${why}`,
  };
}

/**
 * Rungs due while one worker of several was down fire within `limitMs` of due, 99 in 100 of them: the others took
 * its leads. The rest within `limitMs` + 5 s: a rung whose workflow task was running on the dead worker waits for that
 * task's timeout (a lead's 5 s, LEADLINE_WORKFLOW_TASK_TIMEOUT) before another worker may run it.
 */
async function checkTakeover(
  ctx: CheckContext,
  data: RungData,
  window: FaultWindow,
  limitMs: number,
  figures: Record<string, number>,
): Promise<Check> {
  const down = window.takeoverDownAt ?? window.startedAt;
  const back = window.takeoverBackAt ?? window.recoveredAt;
  const during = data.rungs.filter((r) => r.dueMs >= down && r.dueMs <= back);
  const lateness = during.map((r) => r.recordedMs - r.dueMs);
  const missed = data.missing.filter((m) => m.dueMs >= down && m.dueMs <= back);
  lateness.push(...missed.map((m) => data.checkedAt - m.dueMs));
  const summary = summarize(lateness);
  const worst = lateness.length === 0 ? 0 : summary.max;
  figures.rungs_due_while_one_down = during.length + missed.length;
  figures.takeover_late_p50_ms = summary.p50;
  figures.takeover_late_p99_ms = summary.p99;
  figures.takeover_late_max_ms = summary.max;
  figures.takeover_late_over_5s = lateness.filter((ms) => ms > 5000).length;
  const why = await explainLatest(ctx, during, undefined, figures, missed.length > 0);
  return {
    name: 'rungs-on-time-during-takeover',
    pass: summary.p99 <= limitMs && worst <= limitMs + 5_000 && missed.length === 0 && during.length > 0,
    detail:
      `${during.length + missed.length} rungs due during ${round((back - down) / 1000)} s with one worker down: ` +
      `p50 ${round(summary.p50 / 1000)} s, p99 ${round(summary.p99 / 1000)} s, latest ${round(worst / 1000)} s after due ` +
      `(limits: p99 ${limitMs / 1000} s, max ${limitMs / 1000 + 5} s), ${missed.length} never fired${why}`,
  };
}

/**
 * Why the latest of these rungs came when it did, from its lead's history in Temporal (rung-path.ts): time spent on
 * timeouts (a dead worker's sticky queue, a task it had started), queued, and in the task that recorded it; and how
 * busy the machine was from the worker's return (or the rung's due time) until then. As figures, and as a clause of
 * the check's detail.
 */
async function explainLatest(
  ctx: CheckContext,
  rungs: readonly Rung[],
  back: number | undefined,
  figures: Record<string, number>,
  someNeverFired: boolean,
): Promise<string> {
  const latest = rungs.reduce<Rung | undefined>(
    (a, r) => (a === undefined || r.recordedMs - (back ?? r.dueMs) > a.recordedMs - (back ?? a.dueMs) ? r : a),
    undefined,
  );
  if (latest === undefined) return '';
  let path: RungPath | undefined;
  try {
    path = await rungPath(ctx.temporal, latest.leadId, latest.recordedMs);
  } catch {
    path = undefined; // the history is a diagnosis, not a check: without it the detail says less
  }
  const from = back ?? latest.dueMs;
  const busy = ctx.machineBusyPct?.(from, latest.recordedMs);
  const parts: string[] = [];
  if (path !== undefined) {
    figures.latest_rung_timed_out_ms = path.timedOutMs;
    figures.latest_rung_queued_ms = path.queuedMs;
    figures.latest_rung_task_ms = path.taskMs;
    const waited =
      path.timeouts.length === 0
        ? ''
        : `${round(path.timedOutMs / 1000)} s on earlier attempts (${path.timeouts.join(', ')}), `;
    parts.push(`${waited}${round(path.queuedMs / 1000)} s queued, ${round(path.taskMs / 1000)} s in its task`);
  }
  if (busy !== undefined) {
    figures.machine_busy_pct_until_latest = busy;
    parts.push(`the machine ${busy} % busy meanwhile`);
  }
  if (parts.length === 0) return '';
  // A rung that never fired is later than any recorded one, and has no task to explain.
  return `; ${someNeverFired ? 'the latest of those recorded' : 'the latest'}: ${parts.join('; ')}`;
}

async function checkPoison(
  ctx: CheckContext,
  poison: { operations: readonly PoisonOperation[]; logFiles: string[]; tag: string },
): Promise<Check[]> {
  const poisoned = poison.operations.filter((o) => !o.clean);
  const not400 = poisoned.filter((o) => o.status !== 400);
  const leads = poisoned.filter((o) => o.leadId !== undefined && o.key !== undefined).map((o) => o.leadId!);
  const written = await ctx.pool.query<{ lead_id: string }>(
    `SELECT lead_id FROM leads WHERE lead_id = ANY($1::uuid[])
     UNION SELECT lead_id FROM lead_events WHERE lead_id = ANY($1::uuid[])
     UNION SELECT lead_id FROM lead_intake_queue WHERE lead_id = ANY($1::uuid[])`,
    [leads],
  );
  const commandIds = poisoned.filter((o) => o.commandId !== undefined).map((o) => o.commandId!);
  const recordedCommands = await ctx.pool.query<{ digest: string }>(
    `SELECT DISTINCT metadata->>'commandDigest' AS digest FROM lead_events WHERE metadata->>'commandDigest' = ANY($1)`,
    [digestsOf(ctx, commandIds).digests],
  );
  const started: string[] = [];
  await mapConcurrent(leads, 8, async (leadId) => {
    if ((await workflowStatus(ctx.temporal, leadId)) !== 'NOT_FOUND') started.push(leadId);
  });
  const followUps = poison.operations.filter((o) => o.clean);
  const frozen = followUps.filter((o) => o.status !== 200);
  let leaked = 0;
  const pattern = `PZN${poison.tag}X`;
  for (const file of poison.logFiles) {
    const text = await readFile(file, 'latin1').catch(() => '');
    leaked += text.split(pattern).length - 1;
  }
  const statuses: Record<string, number> = {};
  for (const o of poisoned) statuses[String(o.status)] = (statuses[String(o.status)] ?? 0) + 1;
  return [
    {
      name: 'poison-refused-400',
      pass: not400.length === 0,
      detail: `${poisoned.length - not400.length} of ${poisoned.length} answered 400 (answers ${JSON.stringify(statuses)})${
        not400.length
          ? `; e.g. ${not400
              .slice(0, 3)
              .map((o) => `${o.field} ${o.byte} ${o.mode} -> ${o.status ?? o.error}`)
              .join(', ')}`
          : ''
      }`,
    },
    {
      name: 'poison-nothing-written',
      pass: written.rows.length === 0 && recordedCommands.rows.length === 0 && started.length === 0,
      detail: `${written.rows.length} leads written, ${started.length} workflows started, ${recordedCommands.rows.length} commands recorded from ${poisoned.length} poison requests`,
    },
    {
      name: 'poison-lead-not-frozen',
      pass: frozen.length === 0 && followUps.length > 0,
      detail: `${followUps.length - frozen.length} of ${followUps.length} clean commands after the poison answered 200${frozen.length ? ` (got ${frozen.map((o) => o.status ?? o.error).join(', ')})` : ''}`,
    },
    {
      name: 'poison-not-logged',
      pass: leaked === 0,
      detail: `${leaked} log lines quote text sent with a poison byte`,
    },
  ];
}

/** An honest 503 means nothing was done: counts the sync answers 5xx (or none) whose work was in fact done. */
async function honesty(ctx: CheckContext, figures: Record<string, number>): Promise<void> {
  const sent = new Map<string, number>();
  for (const o of ctx.operations) {
    const id = o.key ?? o.commandId;
    if (id !== undefined) sent.set(id, (sent.get(id) ?? 0) + 1);
  }
  // Only ids sent once: a retry could be what did the work.
  const failedSubmits = ctx.operations.filter(
    (o) => o.kind === 'submit' && o.mode === 'sync' && (o.status ?? 0) >= 500 && sent.get(o.key!) === 1,
  );
  const failedCommands = ctx.operations.filter(
    (o) => o.kind === 'command' && (o.status ?? 0) >= 500 && sent.get(o.commandId!) === 1,
  );
  const recorded = await ctx.pool.query<{ lead_id: string }>(
    `SELECT DISTINCT lead_id FROM lead_events WHERE type = 'LeadReceived' AND lead_id = ANY($1::uuid[])`,
    [failedSubmits.map((o) => leadIdForSubmission(o.key!))],
  );
  const failedDigests = digestsOf(
    ctx,
    failedCommands.map((o) => o.commandId!),
  );
  const appliedRows = await ctx.pool.query<{ digest: string }>(
    `SELECT DISTINCT metadata->>'commandDigest' AS digest FROM lead_events WHERE metadata->>'commandDigest' = ANY($1)`,
    [failedDigests.digests],
  );
  const applied = { rows: appliedRows.rows.map((r) => ({ command_id: failedDigests.idOf(r.digest) })) };
  figures.sync_submits_5xx = failedSubmits.length;
  figures.sync_submits_5xx_recorded = recorded.rows.length;
  figures.commands_5xx = failedCommands.length;
  figures.commands_5xx_applied = applied.rows.length;
  // A 504 says "sent, outcome unknown": work done behind it is honest. The honesty figures are the answers that said
  // nothing was done (5xx but 504) whose work was done; they must be 0.
  const recordedLeads = new Set(recorded.rows.map((r) => r.lead_id));
  const appliedIds = new Set(applied.rows.map((r) => r.command_id));
  figures.sync_submits_503_recorded = failedSubmits.filter(
    (o) => o.status !== 504 && recordedLeads.has(leadIdForSubmission(o.key!)),
  ).length;
  figures.commands_503_applied = failedCommands.filter((o) => o.status !== 504 && appliedIds.has(o.commandId!)).length;
  figures.answered_504 = ctx.operations.filter((o) => o.status === 504).length;
}
