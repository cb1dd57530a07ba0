import type { Logger } from 'pino';
import { createLogger } from '../logger';
import type { Notification, NotificationAdapter } from './types';

export interface LogAdapterOptions {
  /** Where the notices go; unset: a logger named `notifications` (activities/logger.ts). */
  logger?: Logger;
  /** Receives each notice's JSON line instead of stdout (a test collecting them). */
  write?: (line: string) => void;
}

/** Logs notifications, one line each: the channel for local runs and the fallback when no contact is reachable. */
export function createLogAdapter(options: LogAdapterOptions = {}): NotificationAdapter {
  const logger =
    options.logger ??
    createLogger({
      name: 'notifications',
      // A collector asked for every notice, whatever LOG_LEVEL says.
      ...(options.write === undefined ? {} : { write: options.write, level: 'info' }),
    });
  return {
    channel: 'log',
    send(notification: Notification): Promise<void> {
      logger.info(
        {
          idempotencyKey: notification.idempotencyKey,
          leadId: notification.leadId,
          kind: notification.kind,
          // pino's own `level` is the line's severity.
          escalationLevel: notification.level,
          office: notification.office,
          stage: notification.stage,
          status: notification.status,
          deadline: notification.deadline,
          recipientRole: notification.recipient.role,
          subject: notification.subject,
          link: notification.link,
        },
        'notification',
      );
      return Promise.resolve();
    },
  };
}
