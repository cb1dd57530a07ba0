import type { Client } from '@temporalio/client';
import { Runtime } from '@temporalio/worker';
import type pg from 'pg';
import { loadDirectory } from '../activities/directory';
import { createLogger } from '../activities/logger';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { createHealingNotifier } from '../activities/notifications/healing';
import { LeadId } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';
import { terminalStatuses } from '../schemas/vocabulary';
import { LEAD_WORKFLOW_TYPE } from '../workflows/messages';
import type { LeadlineEnv } from '../activities/config';
import { createHealer, errorName, type Healer, type HealingLog, type RecoverResult } from '../admin/healer';
import { notificationAdapters } from '../activities/notifications/adapters';

/*
 * The reconciler: every interval, the open leads of the read model are compared with the lead workflows Temporal
 * runs, and every open lead whose workflow does not run is restarted from its event log (admin/healer.ts).
 *
 * Why a loop in the worker process rather than a Temporal Schedule: healing must work when Temporal itself lost
 * the leads (its database restored from an old backup, or gone): a Schedule lives in that same database and would
 * be lost with it, and its workflow would need the worker's PostgreSQL pool and payload key anyway. The loop needs
 * only what the worker already holds. Across worker processes one pass runs at a time: each pass takes a
 * PostgreSQL advisory lock (pg_try_advisory_lock, in a namespace of its own) and a process that finds it taken
 * skips its turn. A process that dies mid-pass loses its session, and the lock with it.
 *
 * Scale: one visibility listing of the running lead workflows (10,000 leads are 10 pages) and one query of the
 * open rows; only the leads in the difference are described (describe is authoritative where visibility lags),
 * and only those not running are read from the log and restarted.
 */

/** Who the audit log names for the reconciler's healings. */
export const RECONCILER_ACTOR = 'system:reconciler';

/** Namespace of pg_advisory_lock(int, int) keys; the event store's lead locks use 0x4c4c_0001. */
const RECONCILER_LOCK_NAMESPACE = 0x4c4c_0002;
const RECONCILER_LOCK_KEY = 1;

export interface ReconcilerOptions {
  pool: pg.Pool;
  client: Client;
  healer: Healer;
  log: HealingLog;
  /** Time between the end of one pass and the start of the next. */
  intervalMs: number;
  /**
   * A lead whose row changed more recently than this is left to the next pass: an append of a run terminated a moment
   * ago may still be committing, and a lead just submitted may not show in visibility yet. Default 5 s.
   */
  quietMs?: number;
  /** Leads described and restarted at once. Default 4. */
  concurrency?: number;
  /** At most this many leads are looked at in one pass; the rest wait for the next. Default 1,000. */
  maxPerPass?: number;
  /**
   * A lead the reconciler restarted this many times in the last hour is left alone until the hour has moved on
   * (`leadline recover` still restarts it): a run that stops again at once has a cause a restart does not fix, and
   * HQ would get a notice every pass. Default 3.
   */
  maxRestartsPerHour?: number;
}

export interface PassReport {
  /** False when another process held the lock: this pass did nothing. */
  ran: boolean;
  /** Open leads in the read model (past the quiet period). */
  open: number;
  /** Lead workflows visibility lists as running. */
  running: number;
  /** Open leads not listed as running: each was described. */
  candidates: number;
  restarted: Extract<RecoverResult, { outcome: 'restarted' }>[];
  /** Leads whose recovery failed (logged); tried again on the next pass. */
  failed: number;
  /** Leads left alone this pass: restarted `maxRestartsPerHour` times in the last hour already. */
  heldBack: string[];
}

/** One pass, if no other process is running one. */
export async function reconcileOnce(options: ReconcilerOptions): Promise<PassReport> {
  const idle: PassReport = { ran: false, open: 0, running: 0, candidates: 0, restarted: [], failed: 0, heldBack: [] };
  const session = await options.pool.connect();
  let broken = false;
  try {
    let locked: boolean;
    try {
      const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [
        RECONCILER_LOCK_NAMESPACE,
        RECONCILER_LOCK_KEY,
      ]);
      locked = rows[0]?.locked === true;
    } catch (error) {
      // Given up on (the database deadline), the request may still take the lock once the server answers: a session
      // handed back to the pool would then hold it, and every later pass, here and elsewhere, would find it taken.
      broken = true;
      throw error;
    }
    if (!locked) return idle;
    try {
      return await pass(options);
    } finally {
      await session
        .query('SELECT pg_advisory_unlock($1, $2)', [RECONCILER_LOCK_NAMESPACE, RECONCILER_LOCK_KEY])
        .catch(() => {
          // The session is unusable: dropping it (not returning it to the pool) ends it, and the lock with it.
          broken = true;
        });
    }
  } finally {
    session.release(broken);
  }
}

async function pass(options: ReconcilerOptions): Promise<PassReport> {
  // HQ's notices of earlier healings that a channel left undelivered go first: they are alarms too.
  await options.healer.resendNotices().catch((error: unknown) => {
    options.log('warn', 'healing notices left pending could not be sent again', { error: errorName(error) });
  });
  const running = await runningLeads(options.client);
  const { rows } = await options.pool.query<{ lead_id: string }>(
    `SELECT lead_id FROM leads
      WHERE status <> ALL($1) AND updated_at < now() - make_interval(secs => $2)
      ORDER BY updated_at`,
    [terminalStatuses, (options.quietMs ?? 5_000) / 1000],
  );
  const notListed = rows.map((r) => r.lead_id).filter((id) => !running.has(id));
  const heldBack = await restartedTooOften(options, notListed);
  if (heldBack.size > 0) {
    options.log('error', 'leads that stopped again after restarts are left alone for now: see leadline recover', {
      leadIds: [...heldBack],
      maxRestartsPerHour: options.maxRestartsPerHour ?? 3,
    });
  }
  const candidates = notListed.filter((id) => !heldBack.has(id));
  const maxPerPass = options.maxPerPass ?? 1_000;
  if (candidates.length > maxPerPass) {
    options.log('warn', 'more open leads than one pass looks at are not listed as running', {
      candidates: candidates.length,
      thisPass: maxPerPass,
    });
  }
  const report: PassReport = {
    ran: true,
    open: rows.length,
    running: running.size,
    candidates: Math.min(candidates.length, maxPerPass),
    restarted: [],
    failed: 0,
    heldBack: [...heldBack],
  };
  const queue = candidates.slice(0, maxPerPass);
  const lane = async () => {
    for (let leadId = queue.shift(); leadId !== undefined; leadId = queue.shift()) {
      try {
        const result = await options.healer.recover(leadId);
        if (result.outcome === 'restarted') report.restarted.push(result);
      } catch (error) {
        report.failed++;
        options.log('error', 'a lead whose workflow is not running could not be restarted; next pass tries again', {
          leadId,
          error: errorName(error),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane));
  return report;
}

/** The leads among `leadIds` that the reconciler restarted `maxRestartsPerHour` times in the last hour. */
async function restartedTooOften(options: ReconcilerOptions, leadIds: string[]): Promise<Set<string>> {
  if (leadIds.length === 0) return new Set();
  const { rows } = await options.pool.query<{ lead_id: string }>(
    `SELECT lead_id FROM audit_log
      WHERE lead_id = ANY($1::uuid[]) AND action = 'RecoverLead' AND outcome = 'restarted'
        AND actor = $3 AND at > now() - interval '1 hour'
      GROUP BY lead_id HAVING count(*) >= $2`,
    [leadIds, options.maxRestartsPerHour ?? 3, RECONCILER_ACTOR],
  );
  return new Set(rows.map((r) => r.lead_id));
}

/** Every lead workflow visibility lists as running, on any task queue: a lead another worker pool runs is running. */
async function runningLeads(client: Client): Promise<Set<string>> {
  const leads = new Set<string>();
  const query = `WorkflowType = '${LEAD_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
  for await (const execution of client.workflow.list({ query })) {
    const leadId = /^lead-(.+)$/.exec(execution.workflowId)?.[1];
    if (leadId !== undefined && LeadId.safeParse(leadId).success) leads.add(leadId);
  }
  return leads;
}

export interface Reconciler {
  /** Runs a pass now (waiting for one under way), outside the schedule. */
  passNow(): Promise<PassReport>;
  /** Waits for a pass under way, then stops. */
  stop(): Promise<void>;
}

/** Runs `reconcileOnce` every `intervalMs`, the first one interval after start, until stopped. */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<PassReport> | undefined;

  const runPass = (): Promise<PassReport> => {
    current ??= reconcileOnce(options)
      .then((report) => {
        if (report.failed > 0 || report.candidates > report.restarted.length) {
          options.log('info', 'reconciler pass', {
            open: report.open,
            running: report.running,
            candidates: report.candidates,
            restarted: report.restarted.length,
            failed: report.failed,
          });
        }
        return report;
      })
      .catch((error: unknown) => {
        // Temporal or PostgreSQL away: nothing is lost by waiting for the next pass.
        options.log('warn', 'reconciler pass failed; the next one tries again', { error: errorName(error) });
        return { ran: false, open: 0, running: 0, candidates: 0, restarted: [], failed: 0, heldBack: [] };
      })
      .finally(() => {
        current = undefined;
      });
    return current;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runPass().then(schedule);
    }, options.intervalMs);
  };
  schedule();

  return {
    passNow: async () => {
      if (current !== undefined) await current;
      return runPass();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

// Wiring for a worker process ---------------------------------------------------------------------------------

export interface WorkerReconcilerDeps {
  pool: pg.Pool;
  /** The process's client, with the payload codec the worker uses: the restarted run's input is encrypted like any. */
  client: Client;
  cfg: LeadlineEnv;
  policy: SlaPolicy;
  /** Seconds between passes (LEADLINE_RECONCILE_INTERVAL). */
  intervalSeconds: number;
}

/** The reconciler of a worker process: HQ notices through the configured channels, the counter on /metrics. */
export async function startWorkerReconciler(deps: WorkerReconcilerDeps): Promise<Reconciler> {
  const { pool, client, cfg } = deps;
  const logger = createLogger({ name: 'reconciler', level: cfg.LOG_LEVEL === 'silent' ? 'silent' : 'info' });
  const log: HealingLog = (level, message, fields) => logger[level](fields, message);
  const adapters = notificationAdapters(cfg);
  const healer = createHealer({
    pool,
    client,
    taskQueue: cfg.LEADLINE_TASK_QUEUE,
    workflowTaskTimeoutSeconds: cfg.LEADLINE_WORKFLOW_TASK_TIMEOUT,
    policy: deps.policy,
    notifier: createHealingNotifier({
      directory: await loadDirectory(cfg.LEADLINE_DIRECTORY),
      delivery: createNotificationDelivery({ pool, adapters }),
      channels: adapters.map((a) => a.channel),
      ...(cfg.LEADLINE_PUBLIC_URL ? { linkBase: cfg.LEADLINE_PUBLIC_URL } : {}),
    }),
    // The SDK's runtime serves it with its own metrics on LEADLINE_METRICS_ADDRESS (/metrics).
    counter: Runtime.instance().metricMeter.createCounter(
      'leadline_leads_healed',
      'leads',
      'Open leads whose workflow was not running, restarted from their event log',
    ),
    log,
    actor: RECONCILER_ACTOR,
  });
  return startReconciler({ pool, client, healer, log, intervalMs: deps.intervalSeconds * 1000 });
}
