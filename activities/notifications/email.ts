import nodemailer from 'nodemailer';
import { NonRetryableDeliveryError } from './types';
import type { Notification, NotificationAdapter } from './types';

export interface EmailAdapterOptions {
  host: string;
  port: number;
  /** TLS from the first byte (port 465). With false, STARTTLS is used when the server offers it. */
  secure: boolean;
  auth?: { user: string; pass: string };
  /** Envelope and header sender, e.g. `Leadline <leadline@hsi.example.gov>`. */
  from: string;
  /** Refuse to send when the server does not offer STARTTLS. */
  requireTLS?: boolean;
  timeoutMs?: number;
}

export interface EmailAdapter extends NotificationAdapter {
  close(): void;
}

/** SMTP delivery through nodemailer. */
export function createEmailAdapter(options: EmailAdapterOptions): EmailAdapter {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const transport = nodemailer.createTransport({
    host: options.host,
    port: options.port,
    secure: options.secure,
    requireTLS: options.requireTLS ?? false,
    ...(options.auth === undefined ? {} : { auth: options.auth }),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });

  return {
    channel: 'email',
    async send(notification: Notification): Promise<void> {
      const { email, name } = notification.recipient;
      if (email === undefined) {
        throw new NonRetryableDeliveryError(`recipient ${notification.recipient.role} has no email address`);
      }
      // A partner is told its own reference and the status facts; Leadline's lead id stays inside.
      const partner = notification.partner;
      const text =
        partner === undefined
          ? notification.text
          : `${partner.reference === null ? '' : `Your reference: ${partner.reference}\n`}${notification.text}`;
      try {
        await transport.sendMail({
          from: options.from,
          to: name === undefined ? email : { name, address: email },
          subject: notification.subject,
          text: notification.link === undefined ? text : `${text}\n\n${notification.link}`,
          headers: {
            'X-Leadline-Idempotency-Key': notification.idempotencyKey,
            ...(partner === undefined ? { 'X-Leadline-Lead-Id': notification.leadId } : {}),
          },
        });
      } catch (error) {
        throw classify(error);
      }
    },
    close(): void {
      transport.close();
    },
  };
}

// SMTP 5xx replies are permanent by definition (RFC 5321 §4.2.1); 4xx and connection failures are not.
// The server's reply text is left out, also as a cause (Temporal records causes in history): it can quote
// addresses and message content.
function classify(error: unknown): Error {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
  const responseCode =
    typeof error === 'object' && error !== null && 'responseCode' in error && typeof error.responseCode === 'number'
      ? error.responseCode
      : undefined;
  if (responseCode !== undefined && responseCode >= 500 && responseCode < 600) {
    return new NonRetryableDeliveryError(`SMTP server refused the message (${responseCode})`);
  }
  if (code === 'EENVELOPE' && responseCode === undefined) {
    return new NonRetryableDeliveryError('email envelope is invalid');
  }
  const detail = [code, responseCode].filter((part) => part !== undefined).join(' ');
  return new Error(`email delivery failed${detail === '' ? '' : ` (${detail})`}`);
}
