import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { readEnv } from '../activities/config';
import { recordAudit } from '../activities/event-store';
import { fieldCryptoFor } from '../activities/field-crypto';
import { LeadId, terminalStatuses } from '../schemas/lead';
import { LEAD_WORKFLOW_TYPE, leadStateQuery, leadWorkflowId } from '../workflows/messages';
import { compareLead, type LeadCheck, type WorkflowView } from './compare-lead';
import { openDatabase } from './database';
import { formatDifference, type Difference } from './differences';
import { adminActor, guarded, plural, type AdminExitCode, type AdminIo } from './io';
import { inReadOnlySnapshot } from '../activities/db';
import { readEvents, readRows } from './lead-rows';
import { openTemporal } from './temporal';

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
    const stored = await inReadOnlySnapshot(pool, async (db) => ({
      row: (await readRows(db, crypto, leadId)).get(leadId),
      events: await readEvents(db, crypto, leadId),
    }));
    const check = compareLead(crypto, leadId, workflow, stored.row, stored.events);
    if (!check.lagging || Date.now() >= settleBy) return check;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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
