import type pg from 'pg';
import { z } from 'zod';
import { recipientsFor, type Directory } from '../directory';
import { composeNotifications } from './compose';
import { deliverEach, type NotificationDelivery } from './deliver';
import type { NotificationChannel, NotificationRecipient } from './types';

/** What HQ is told of a healed lead: ids, office, status and clocks, never the intake. */
export interface HealingNotice {
  /** Unique per healing (the restarted run's id): the notice's idempotency key, so it is sent once. */
  healingId: string;
  leadId: string;
  office: string | null;
  status: string;
  stage: string | null;
  /** ISO 8601, or null when no clock runs. */
  deadline: string | null;
  level: number;
  priority: string;
  /** What Temporal showed of the workflow before the restart: `TERMINATED`, `FAILED`, `missing`, ... */
  workflowWas: string;
  /** Events in the log the restarted workflow carries. */
  version: number;
}

export interface HealingNotifierDeps {
  directory: Directory;
  delivery: NotificationDelivery;
  /** Channels that really send; a contact reachable only on others is logged instead. */
  channels: readonly NotificationChannel[];
  linkBase?: string;
  /** How long a pending notice is left before `resendPending` takes it, so a send under way is not doubled. Default 60 s. */
  resendAfterMs?: number;
}

export interface HealingNotifier {
  /** Resolves with what was delivered; throws when a channel failed in a way a retry may fix. */
  notify(notice: HealingNotice): Promise<{ delivered: number; failed: number }>;
  /**
   * Tries again the healing notices a channel left pending (down when the healing ran, or the process stopped
   * mid-send), each at most once per call; resolves with how many were delivered now.
   */
  resendPending(pool: pg.Pool): Promise<number>;
}

/**
 * Tells HQ's HSTU desk that a lead's workflow had stopped and was restarted from its log. HQ rather than the
 * office: a lead that lost its workflow is an operational fault (someone terminated it, or Temporal lost it),
 * and HQ is the last rung of every ladder, so it hears of any lead whose clocks stopped.
 */
export function createHealingNotifier(deps: HealingNotifierDeps): HealingNotifier {
  return {
    async notify(notice) {
      const recipients = recipientsFor(deps.directory, undefined, ['hq']).map((r) => reachable(r, deps.channels));
      const notifications = composeNotifications(
        {
          causationId: `healed-${notice.healingId}`,
          leadId: notice.leadId,
          kind: 'lead_healed',
          office: notice.office ?? 'UNASSIGNED',
          status: notice.status,
          priority: notice.priority,
          level: notice.level === 0 ? undefined : notice.level,
          ...(notice.stage === null ? {} : { stage: notice.stage }),
          ...(notice.deadline === null ? {} : { deadline: notice.deadline }),
          workflowWas: notice.workflowWas,
          version: notice.version,
        },
        recipients,
        deps.linkBase === undefined ? {} : { linkBase: deps.linkBase },
      );
      return deliverEach(deps.delivery, notifications);
    },

    async resendPending(pool) {
      // The row keeps what was composed (no personal data in it) and the channel; the HQ contact comes from the
      // directory, as it did the first time.
      const { rows } = await pool.query<{
        idempotency_key: string;
        lead_id: string;
        channel: string;
        payload: unknown;
      }>(
        `SELECT idempotency_key, lead_id, channel, payload FROM notifications
          WHERE kind = 'lead_healed' AND status = 'pending'
            AND coalesce(last_attempt_at, created_at) < now() - make_interval(secs => $1)
          ORDER BY id LIMIT 100`,
        [(deps.resendAfterMs ?? 60_000) / 1000],
      );
      const hq = recipientsFor(deps.directory, undefined, ['hq'])[0];
      let delivered = 0;
      for (const row of rows) {
        const channel = row.channel as NotificationChannel;
        const payload = StoredNotice.safeParse(row.payload);
        if (hq === undefined || !payload.success) continue;
        try {
          await deps.delivery.deliver({
            idempotencyKey: row.idempotency_key,
            leadId: row.lead_id,
            channel,
            kind: 'lead_healed',
            recipient: reachable(hq, [channel]),
            ...definedFields(payload.data),
          });
          delivered++;
        } catch {
          // Still down, or refused for good (the row says which): the next call tries the pending ones again.
        }
      }
      return delivered;
    },
  };
}

/** What `deliver` keeps of a notification in `notifications.payload`. */
const StoredNotice = z.object({
  office: z.string(),
  subject: z.string(),
  text: z.string(),
  level: z.number().optional(),
  stage: z.string().optional(),
  status: z.string().optional(),
  deadline: z.string().optional(),
  link: z.string().optional(),
});

function definedFields(notice: z.infer<typeof StoredNotice>) {
  return Object.fromEntries(Object.entries(notice).filter(([, v]) => v !== undefined)) as z.infer<typeof StoredNotice>;
}

/** The recipient with only the addresses of channels that really send (the others fall back to the log). */
function reachable(recipient: NotificationRecipient, channels: readonly NotificationChannel[]): NotificationRecipient {
  const { email, webhookUrl, ...rest } = recipient;
  return {
    ...rest,
    ...(email !== undefined && channels.includes('email') ? { email } : {}),
    ...(webhookUrl !== undefined && channels.includes('webhook') ? { webhookUrl } : {}),
  };
}
