import type { LeadlineEnv } from '../config';
import { createEmailAdapter } from './email';
import { createLogger } from '../logger';
import { createLogAdapter } from './log';
import type { NotificationAdapter } from './types';
import { createWebhookAdapter } from './webhook';

/** The notification adapters the configuration turns on. */
export function notificationAdapters(cfg: LeadlineEnv): NotificationAdapter[] {
  const adapters: NotificationAdapter[] = [
    createLogAdapter({ logger: createLogger({ name: 'notifications', level: cfg.LOG_LEVEL }) }),
  ];
  if (cfg.LEADLINE_NOTIFY_CHANNELS.includes('email') && cfg.SMTP_URL !== undefined) {
    const smtp = new URL(cfg.SMTP_URL);
    adapters.push(
      createEmailAdapter({
        host: smtp.hostname,
        port: Number(smtp.port || (smtp.protocol === 'smtps:' ? 465 : 587)),
        secure: smtp.protocol === 'smtps:',
        ...(smtp.username
          ? { auth: { user: decodeURIComponent(smtp.username), pass: decodeURIComponent(smtp.password) } }
          : {}),
        from: cfg.SMTP_FROM,
      }),
    );
  }
  if (cfg.LEADLINE_NOTIFY_CHANNELS.includes('webhook') && cfg.WEBHOOK_SECRET !== undefined) {
    adapters.push(createWebhookAdapter({ secret: cfg.WEBHOOK_SECRET }));
  }
  return adapters;
}
