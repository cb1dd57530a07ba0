import type { Notification, NotificationAdapter } from './types';

export interface LogAdapterOptions {
  /** Receives one JSON line per notification. */
  write?: (line: string) => void;
  now?: () => Date;
}

/** Writes notifications as JSON lines: the channel for local runs and the fallback when no contact is reachable. */
export function createLogAdapter(options: LogAdapterOptions = {}): NotificationAdapter {
  const write = options.write ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => new Date());
  return {
    channel: 'log',
    send(notification: Notification): Promise<void> {
      write(
        JSON.stringify({
          at: now().toISOString(),
          msg: 'notification',
          idempotencyKey: notification.idempotencyKey,
          leadId: notification.leadId,
          kind: notification.kind,
          level: notification.level,
          office: notification.office,
          stage: notification.stage,
          status: notification.status,
          deadline: notification.deadline,
          recipientRole: notification.recipient.role,
          subject: notification.subject,
          link: notification.link,
        }),
      );
      return Promise.resolve();
    },
  };
}
