import { recipientsFor, type Directory } from '../directory';
import { composeNotifications } from './compose';
import type { NotificationDelivery } from './deliver';
import { NonRetryableDeliveryError, type NotificationChannel, type NotificationRecipient } from './types';

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
}

export interface HealingNotifier {
  /** Resolves with what was delivered; throws when a channel failed in a way a retry may fix. */
  notify(notice: HealingNotice): Promise<{ delivered: number; failed: number }>;
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
      let delivered = 0;
      let failed = 0;
      let transient: Error | undefined;
      for (const notification of notifications) {
        try {
          await deps.delivery.deliver(notification);
          delivered++;
        } catch (error) {
          if (error instanceof NonRetryableDeliveryError) failed++;
          else transient = error instanceof Error ? error : new Error(String(error));
        }
      }
      if (transient !== undefined) throw transient;
      return { delivered, failed };
    },
  };
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
