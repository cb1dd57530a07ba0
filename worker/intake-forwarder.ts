import type pg from 'pg';
import { INTAKE_QUEUE_CHANNEL, type ClaimedLead, type IntakeQueue } from '../activities/intake-queue';
import { formatDatabaseError } from '../activities/database-errors';
import type { LeadClient } from '../client/lead-client';

export interface IntakeForwarderOptions {
  queue: IntakeQueue;
  leads: Pick<LeadClient, 'startQueuedLead'>;
  /** For LISTEN: a lead queued by any process wakes this forwarder at once. */
  pool: pg.Pool;
  /** Leads taken at a time; each is started by its own call to Temporal. Default 16. */
  batchSize?: number;
  /**
   * How long a taken lead is this forwarder's; one it has not settled by then goes to the next taker. Default 30 s: a
   * forward is at most the client's 15 s budget in Temporal (LeadClient#startQueuedLead) and one statement on
   * PostgreSQL under its deadline (LEADLINE_DB_QUERY_TIMEOUT). The leads a crashed forwarder had taken wait out the
   * lease: with 60 s, 46.6 s after an API's `kill -9` in `npm run faults`. Taken twice, a lead is still started once.
   */
  leaseMs?: number;
  /** How often the queue is looked at without a notification. Default 1 s. */
  pollMs?: number;
  /**
   * While the oldest waiting lead is older than this, a warning says how many wait and for how long, at most once
   * per this interval: Temporal has been away that long. Default 30 s.
   */
  backlogWarningMs?: number;
  /** Told of each lead not started this time and of each conflict; never given the intake. */
  log: (level: 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;
}

export interface IntakeForwarder {
  stop(): Promise<void>;
}

const MAX_RETRY_MS = 60_000;

/**
 * Starts the workflow of every lead in the intake queue: at once when one is queued (LISTEN), and on a poll. A
 * lead Temporal cannot take now is tried again with backoff (1 s doubling to 60 s), for as long as it takes;
 * starting is idempotent (the lead's id is its workflow's), so a lead taken twice, by two forwarders or after a
 * crash, still starts one workflow.
 */
export function startIntakeForwarder(options: IntakeForwarderOptions): IntakeForwarder {
  const batchSize = options.batchSize ?? 16;
  const leaseMs = options.leaseMs ?? 30_000;
  const pollMs = options.pollMs ?? 1_000;
  const backlogWarningMs = options.backlogWarningMs ?? 30_000;
  let lastBacklogCheck = Date.now();
  let stopped = false;
  let wake: (() => void) | undefined;
  let listener: pg.PoolClient | undefined;

  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  async function listen() {
    if (listener !== undefined || stopped) return;
    let client: pg.PoolClient | undefined;
    try {
      client = await options.pool.connect();
      const connected = client;
      connected.on('notification', () => wake?.());
      connected.on('error', () => {
        // The connection broke: polling carries on, and the next round listens again.
        if (listener !== connected) return;
        listener = undefined;
        connected.release(true);
      });
      await connected.query(`LISTEN ${INTAKE_QUEUE_CHANNEL}`);
      listener = connected;
    } catch (error) {
      client?.release(true);
      options.log('warn', 'intake forwarder cannot listen; polling only', { error: safeReason(error) });
    }
  }

  /** A LISTENing connection is closed, not returned to the pool, where another caller would inherit it. */
  function unlisten() {
    const connected = listener;
    listener = undefined;
    connected?.release(true);
  }

  async function forward(lead: ClaimedLead) {
    const { leadId } = lead.lead;
    try {
      const outcome = await options.leads.startQueuedLead(lead.lead);
      if (outcome === 'conflict') {
        options.log('warn', 'queued lead not started: its key names a lead with another intake', { leadId });
      }
      await options.queue.settle(leadId, outcome);
    } catch (error) {
      const retryInMs = Math.min(MAX_RETRY_MS, 1_000 * 2 ** Math.min(lead.attempts - 1, 6));
      const reason = safeReason(error);
      options.log('warn', 'queued lead not started yet; will try again', {
        leadId,
        attempts: lead.attempts,
        retryInMs,
      });
      await options.queue.postpone(leadId, retryInMs, reason).catch(() => undefined);
    }
  }

  async function warnOfBacklog() {
    if (Date.now() - lastBacklogCheck < backlogWarningMs) return;
    lastBacklogCheck = Date.now();
    const { waiting, oldestSeconds } = await options.queue.backlog();
    if (waiting > 0 && oldestSeconds * 1000 >= backlogWarningMs) {
      options.log('warn', 'accepted leads are waiting for Temporal', {
        waiting,
        oldestSeconds: Math.round(oldestSeconds),
      });
    }
  }

  async function run() {
    while (!stopped) {
      await listen();
      await warnOfBacklog().catch(() => undefined);
      let claimed: ClaimedLead[] = [];
      try {
        claimed = await options.queue.claim(batchSize, leaseMs);
      } catch (error) {
        options.log('error', 'intake forwarder cannot read the queue', { error: safeReason(error) });
      }
      if (claimed.length > 0) {
        await Promise.all(claimed.map(forward));
        continue;
      }
      await nap(pollMs);
    }
  }

  const running = run();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      unlisten();
    },
  };
}

/** An error as it may be logged or kept: PostgreSQL's by SQLSTATE, table and constraint, for its text quotes rows. */
function safeReason(error: unknown): string {
  const database = formatDatabaseError(error);
  if (database !== undefined) return database;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
