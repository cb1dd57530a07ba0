import type pg from 'pg';
import { QueuedLead } from '../schemas/intake';
import { isDatabaseUnavailable } from './database-errors';
import { fieldCryptoFor, isSealed, type FieldCrypto } from './field-crypto';

/** What became of a lead offered to the queue. */
export type EnqueueOutcome =
  /** Stored now, or stored earlier from the same intake and still waiting. */
  | 'queued'
  /** Waiting under the same key with another intake. */
  | 'conflict'
  /** Past the queue: its workflow was started (read it from Temporal). */
  | 'known'
  /** PostgreSQL cannot be reached (or is refusing connections) now: nothing was stored. */
  | 'unavailable';

/** What a forwarder took from the queue: the lead, and how many times it has been taken. */
export interface ClaimedLead {
  lead: QueuedLead;
  attempts: number;
}

export interface IntakeQueue {
  enqueue(lead: QueuedLead): Promise<EnqueueOutcome>;
  /**
   * Takes the lead's key for a synchronous submission about to start its workflow, so an asynchronous one racing it
   * under another intake is not queued. `conflict`: queued, not started yet, with another intake.
   */
  reserve(lead: Pick<QueuedLead, 'leadId' | 'intakeDigest'>): Promise<'reserved' | 'conflict' | 'unavailable'>;
  /** The intake digest of a lead waiting in the queue; undefined if none waits (or PostgreSQL cannot be reached). */
  waiting(leadId: string): Promise<string | undefined>;
  /** Takes up to `limit` waiting leads, oldest first, for `leaseMs`: no other forwarder takes them meanwhile. */
  claim(limit: number, leaseMs: number): Promise<ClaimedLead[]>;
  /** The workflow holds the lead (`started`), or the key named another intake (`conflict`): the intake goes. */
  settle(leadId: string, outcome: 'started' | 'conflict'): Promise<void>;
  /** Not forwarded this time: tried again after `retryInMs`. `error` must hold no personal data. */
  postpone(leadId: string, retryInMs: number, error: string): Promise<void>;
  /** Leads waiting, and the age of the oldest in seconds (0 when none wait). */
  backlog(): Promise<{ waiting: number; oldestSeconds: number }>;
}

export const INTAKE_QUEUE_CHANNEL = 'lead_intake_queue';

/**
 * The queue of accepted leads in PostgreSQL (`lead_intake_queue`, migrations/0003). A lead the read model already
 * holds is not queued: it is `known`, and the caller answers from Temporal as for any lead sent again.
 */
export function createIntakeQueue(pool: pg.Pool, crypto: FieldCrypto = fieldCryptoFor(pool)): IntakeQueue {
  async function enqueue(lead: QueuedLead): Promise<EnqueueOutcome> {
    // The LeadClient checked the intake; what comes back out is checked in `claim`. The intake and who submitted it
    // (whose command id is the partner's reference) are sealed as one value, under the lead's id.
    const { intake, submittedBy } = lead;
    const submission = JSON.stringify({ sealed: crypto.seal(lead.leadId, 'submission', { intake, submittedBy }) });
    const keyId = crypto.currentKeyId;
    const inserted = await pool.query(
      `INSERT INTO lead_intake_queue (lead_id, intake_digest, submission, key_id)
       SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM leads WHERE lead_id = $1)
       ON CONFLICT (lead_id) DO NOTHING`,
      [lead.leadId, lead.intakeDigest, submission, keyId],
    );
    if (inserted.rowCount === 1) return 'queued';
    // Taken by a synchronous submission of this same intake that is not recorded (it may have failed while Temporal
    // was away): queued after all, so the lead is accepted now; starting it twice is harmless.
    const requeued = await pool.query(
      `UPDATE lead_intake_queue
          SET submission = $3, key_id = $4, forwarded_at = NULL, outcome = NULL, next_attempt_at = now(), attempts = 0
        WHERE lead_id = $1 AND intake_digest = $2 AND outcome = 'direct'
          AND NOT EXISTS (SELECT 1 FROM leads WHERE lead_id = $1)`,
      [lead.leadId, lead.intakeDigest, submission, keyId],
    );
    if (requeued.rowCount === 1) return 'queued';
    const { rows } = await pool.query<{ intake_digest: string; forwarded: boolean }>(
      'SELECT intake_digest, forwarded_at IS NOT NULL AS forwarded FROM lead_intake_queue WHERE lead_id = $1',
      [lead.leadId],
    );
    const row = rows[0];
    if (row === undefined || row.forwarded) return 'known';
    return row.intake_digest === lead.intakeDigest ? 'queued' : 'conflict';
  }

  async function reserve({ leadId, intakeDigest }: Pick<QueuedLead, 'leadId' | 'intakeDigest'>) {
    // Written as already forwarded: no forwarder takes it; an asynchronous submission of the key finds it `known`.
    const inserted = await pool.query(
      `INSERT INTO lead_intake_queue (lead_id, intake_digest, forwarded_at, outcome) VALUES ($1, $2, now(), 'direct')
       ON CONFLICT (lead_id) DO NOTHING`,
      [leadId, intakeDigest],
    );
    if (inserted.rowCount === 1) return 'reserved';
    // Queued with the same intake: both starts are idempotent. Forwarded or taken: Temporal knows which intake won.
    const waiting = await waitingDigest(leadId);
    return waiting !== undefined && waiting !== intakeDigest ? 'conflict' : 'reserved';
  }

  async function waitingDigest(leadId: string) {
    const { rows } = await pool.query<{ intake_digest: string }>(
      'SELECT intake_digest FROM lead_intake_queue WHERE lead_id = $1 AND forwarded_at IS NULL',
      [leadId],
    );
    return rows[0]?.intake_digest;
  }

  return {
    enqueue: (lead) => unlessUnavailable(() => enqueue(lead), 'unavailable'),
    reserve: (lead) => unlessUnavailable(() => reserve(lead), 'unavailable'),
    waiting: (leadId) => unlessUnavailable(() => waitingDigest(leadId), undefined),

    async claim(limit, leaseMs) {
      const { rows } = await pool.query<{
        lead_id: string;
        intake_digest: string;
        submission: unknown;
        attempts: number;
      }>(
        `UPDATE lead_intake_queue q
            SET attempts = q.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
          WHERE q.lead_id IN (
            SELECT lead_id FROM lead_intake_queue
             WHERE forwarded_at IS NULL AND next_attempt_at <= now()
             ORDER BY next_attempt_at, queued_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
        RETURNING q.lead_id, q.intake_digest, q.submission, q.attempts`,
        [limit, leaseMs],
      );
      const claimed: ClaimedLead[] = [];
      const setAside = (leadId: string, why: string) =>
        pool.query(
          `UPDATE lead_intake_queue SET next_attempt_at = now() + interval '1 hour', last_error = $2
            WHERE lead_id = $1 AND forwarded_at IS NULL`,
          [leadId, `unreadable queued lead: ${why}`.slice(0, 500)],
        );
      for (const row of rows) {
        let submission: unknown;
        try {
          // Rows queued before encryption hold the submission plain.
          const stored = row.submission as { sealed?: unknown };
          submission = isSealed(stored?.sealed) ? crypto.open(row.lead_id, 'submission', stored.sealed) : stored;
        } catch (error) {
          // A key missing from the keyring, or a sealed value altered: the message names the key id, never data.
          await setAside(row.lead_id, (error as Error).message);
          continue;
        }
        const parsed = QueuedLead.safeParse({
          leadId: row.lead_id,
          intakeDigest: row.intake_digest,
          ...(submission as object),
        });
        if (parsed.success) {
          claimed.push({ lead: parsed.data, attempts: row.attempts });
          continue;
        }
        // A row this code cannot read (an intake queued under an older schema) must not hold up the others: it
        // waits an hour at a time, with the fields named (never their values), until someone looks.
        await setAside(
          row.lead_id,
          [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(row)'))].join(', '),
        );
      }
      return claimed;
    },

    async settle(leadId, outcome) {
      await pool.query(
        `UPDATE lead_intake_queue SET forwarded_at = now(), outcome = $2, submission = NULL, last_error = NULL
          WHERE lead_id = $1 AND forwarded_at IS NULL`,
        [leadId, outcome],
      );
    },

    async postpone(leadId, retryInMs, error) {
      await pool.query(
        `UPDATE lead_intake_queue
            SET next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), last_error = $3
          WHERE lead_id = $1 AND forwarded_at IS NULL`,
        [leadId, retryInMs, error.slice(0, 500)],
      );
    },

    async backlog() {
      const { rows } = await pool.query<{ waiting: number; oldest: number }>(
        `SELECT count(*)::int AS waiting, coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8 AS oldest
           FROM lead_intake_queue WHERE forwarded_at IS NULL`,
      );
      return { waiting: rows[0]?.waiting ?? 0, oldestSeconds: rows[0]?.oldest ?? 0 };
    },
  };
}

/** What `work` answers, or `fallback` when PostgreSQL cannot be reached; a mistake in a statement surfaces. */
async function unlessUnavailable<T, F>(work: () => Promise<T>, fallback: F): Promise<T | F> {
  try {
    return await work();
  } catch (error) {
    if (isDatabaseUnavailable(error)) return fallback;
    throw error;
  }
}
