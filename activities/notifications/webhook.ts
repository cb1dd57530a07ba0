import { createHmac, timingSafeEqual } from 'node:crypto';
import { NonRetryableDeliveryError } from './types';
import type { Notification, NotificationAdapter } from './types';

export const TIMESTAMP_HEADER = 'X-Leadline-Timestamp';
export const SIGNATURE_HEADER = 'X-Leadline-Signature';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

export interface WebhookAdapterOptions {
  /** Shared with receivers, who check `X-Leadline-Signature` with it. */
  secret: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => Date;
}

/** The JSON body a receiver gets. */
export interface WebhookPayload {
  idempotencyKey: string;
  leadId: string;
  kind: string;
  level: number | null;
  office: string;
  stage: string | null;
  status: string | null;
  deadline: string | null;
  recipientRole: string;
  subject: string;
  text: string;
  link: string | null;
}

/** Signs `${timestamp}.${body}` with HMAC-SHA256; the value of `X-Leadline-Signature`. */
export function signWebhookPayload(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface VerifyOptions {
  /** Maximum age of the timestamp, against replays. Default 300 s; `Infinity` turns the check off. */
  toleranceSeconds?: number;
  now?: Date;
}

/** For receivers: true when the signature matches the body and the timestamp is recent. */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string,
  body: string,
  signatureHeader: string | undefined,
  options: VerifyOptions = {},
): boolean {
  if (signatureHeader === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(signWebhookPayload(secret, timestamp, body));
  const actual = Buffer.from(signatureHeader);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Signed JSON POST to the recipient's webhook URL. */
export function createWebhookAdapter(options: WebhookAdapterOptions): NotificationAdapter {
  const timeoutMs = options.timeoutMs ?? 5000;
  const fetchFn = options.fetch ?? fetch;
  const now = options.now ?? (() => new Date());

  return {
    channel: 'webhook',
    async send(notification: Notification): Promise<void> {
      const url = notification.recipient.webhookUrl;
      if (url === undefined) {
        throw new NonRetryableDeliveryError(`recipient ${notification.recipient.role} has no webhook URL`);
      }
      // Only the origin goes into messages: a webhook path or query often embeds a token.
      const target = safeOrigin(url);
      const body = JSON.stringify(
        notification.partner === undefined ? toPayload(notification) : toPartnerPayload(notification),
      );
      const timestamp = String(Math.floor(now().getTime() / 1000));

      let response: Response;
      try {
        response = await fetchFn(url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'User-Agent': 'leadline-notifier',
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: signWebhookPayload(options.secret, timestamp, body),
            [IDEMPOTENCY_HEADER]: notification.idempotencyKey,
          },
          body,
          // A redirect would carry a signed body to a host nobody configured.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        if (error instanceof Error && error.name === 'TimeoutError') {
          throw new Error(`webhook ${target} did not answer within ${timeoutMs} ms`, { cause: error });
        }
        throw new Error(`webhook ${target} unreachable`, { cause: error });
      }
      // The receiver's body is not needed; cancelling frees the connection.
      await response.body?.cancel().catch(() => undefined);

      if (response.ok) return;
      const status = response.status;
      // 408 and 429 are the receiver asking us to come back later, not a refusal.
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        throw new NonRetryableDeliveryError(`webhook ${target} refused the notification (HTTP ${status})`);
      }
      if (status >= 300 && status < 400) {
        throw new NonRetryableDeliveryError(`webhook ${target} answered with a redirect (HTTP ${status})`);
      }
      throw new Error(`webhook ${target} failed (HTTP ${status})`);
    },
  };
}

function toPayload(notification: Notification): WebhookPayload {
  return {
    idempotencyKey: notification.idempotencyKey,
    leadId: notification.leadId,
    kind: notification.kind,
    level: notification.level ?? null,
    office: notification.office,
    stage: notification.stage ?? null,
    status: notification.status ?? null,
    deadline: notification.deadline ?? null,
    recipientRole: notification.recipient.role,
    subject: notification.subject,
    text: notification.text,
    link: notification.link ?? null,
  };
}

/** The JSON body a partner's receiver gets: its reference and the lead's status facts, no lead id or office. */
export interface PartnerWebhookPayload {
  idempotencyKey: string;
  kind: string;
  reference: string | null;
  status: string;
  at: string;
  category: string | null;
  subject: string;
  text: string;
}

function toPartnerPayload(notification: Notification): PartnerWebhookPayload {
  const partner = notification.partner;
  return {
    idempotencyKey: notification.idempotencyKey,
    kind: notification.kind,
    reference: partner?.reference ?? null,
    status: partner?.status ?? '',
    at: partner?.at ?? '',
    category: partner?.category ?? null,
    subject: notification.subject,
    text: notification.text,
  };
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new NonRetryableDeliveryError('webhook URL is not a valid URL');
  }
}
