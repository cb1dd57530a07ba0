import type pg from 'pg';
import { NonRetryableDeliveryError } from './types';
import type { Notification, NotificationAdapter, NotificationChannel } from './types';

export interface NotificationDeliveryOptions {
  pool: pg.Pool;
  adapters: readonly NotificationAdapter[];
}

export interface DeliveryResult {
  attempts: number;
  /** True when an earlier attempt had delivered it and nothing was sent this time. */
  alreadyDelivered: boolean;
}

export interface NotificationDelivery {
  /**
   * Sends a notification at most once per idempotency key, as far as this process can tell: a crash between
   * the channel accepting it and the row being marked makes the next attempt send it again, so receivers
   * should deduplicate on the key (webhooks get it as `Idempotency-Key`, emails as a header).
   * Throws `NonRetryableDeliveryError` when the channel refused it for good, any other error when a retry may help.
   */
  deliver(notification: Notification): Promise<DeliveryResult>;
}

const MAX_ERROR_LENGTH = 500;

export function createNotificationDelivery(options: NotificationDeliveryOptions): NotificationDelivery {
  const { pool } = options;
  const adapters = new Map<NotificationChannel, NotificationAdapter>(
    options.adapters.map((adapter) => [adapter.channel, adapter]),
  );

  async function deliver(notification: Notification): Promise<DeliveryResult> {
    await pool.query(
      `INSERT INTO notifications (idempotency_key, lead_id, channel, recipient, kind, payload)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        notification.idempotencyKey,
        notification.leadId,
        notification.channel,
        recipientLabel(notification),
        notification.kind,
        JSON.stringify(payloadOf(notification)),
      ],
    );

    const claimed = await pool.query<{ attempts: number }>(
      `UPDATE notifications SET attempts = attempts + 1, last_attempt_at = now()
       WHERE idempotency_key = $1 AND status = 'pending'
       RETURNING attempts`,
      [notification.idempotencyKey],
    );
    const attempts = claimed.rows[0]?.attempts;
    if (attempts === undefined) return settled(notification.idempotencyKey);

    const adapter = adapters.get(notification.channel);
    try {
      if (adapter === undefined) {
        throw new NonRetryableDeliveryError(`no adapter configured for channel ${notification.channel}`);
      }
      await adapter.send(notification);
    } catch (error) {
      const permanent = error instanceof NonRetryableDeliveryError;
      await pool.query(
        `UPDATE notifications SET last_error = $2, status = CASE WHEN $3 THEN 'failed' ELSE status END
         WHERE idempotency_key = $1`,
        [notification.idempotencyKey, describe(error), permanent],
      );
      throw error;
    }
    await pool.query(
      `UPDATE notifications SET status = 'delivered', delivered_at = now(), last_error = NULL
       WHERE idempotency_key = $1`,
      [notification.idempotencyKey],
    );
    return { attempts, alreadyDelivered: false };
  }

  // Reached when the row is no longer pending: a previous attempt settled it one way or the other.
  async function settled(idempotencyKey: string): Promise<DeliveryResult> {
    const result = await pool.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM notifications WHERE idempotency_key = $1',
      [idempotencyKey],
    );
    const row = result.rows[0];
    if (row?.status === 'delivered') return { attempts: row.attempts, alreadyDelivered: true };
    if (row?.status === 'failed') {
      throw new NonRetryableDeliveryError(`notification ${idempotencyKey} failed permanently on an earlier attempt`);
    }
    throw new Error(`notification ${idempotencyKey} is in an unexpected state`);
  }

  return { deliver };
}

// Who it went to, without a webhook path (which may hold a token).
function recipientLabel(notification: Notification): string {
  const { role, email, webhookUrl } = notification.recipient;
  // A partner's address came with the intake, which is sealed: the row names the role and channel only.
  if (notification.partner !== undefined) return role;
  switch (notification.channel) {
    case 'email':
      return email === undefined ? role : `${role} <${email}>`;
    case 'webhook':
      return webhookUrl === undefined ? role : `${role} ${originOf(webhookUrl)}`;
    case 'log':
      return role;
    default: {
      const unknownChannel: never = notification.channel;
      throw new NonRetryableDeliveryError(`unknown channel ${String(unknownChannel)}`);
    }
  }
}

function payloadOf(notification: Notification): Record<string, unknown> {
  return {
    level: notification.level,
    office: notification.office,
    stage: notification.stage,
    status: notification.status,
    deadline: notification.deadline,
    subject: notification.subject,
    text: notification.text,
    link: notification.link,
  };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown';
  return text.slice(0, MAX_ERROR_LENGTH);
}

/**
 * Sends each notification of one notice once. A final refusal (4xx) is counted and the rest still go; a transient
 * failure is thrown after the others were tried, so the whole notice is retried and its sent parts are skipped by key.
 */
export async function deliverEach(
  delivery: NotificationDelivery,
  notifications: Notification[],
): Promise<{ delivered: number; failed: number }> {
  let delivered = 0;
  let failed = 0;
  let transient: Error | undefined;
  for (const notification of notifications) {
    try {
      await delivery.deliver(notification);
      delivered++;
    } catch (error) {
      if (error instanceof NonRetryableDeliveryError) failed++;
      else transient = error instanceof Error ? error : new Error(String(error));
    }
  }
  if (transient !== undefined) throw transient;
  return { delivered, failed };
}
