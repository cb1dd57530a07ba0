export type NotificationChannel = 'log' | 'webhook' | 'email';

/** `lead_healed`: HQ is told that a lead's workflow had stopped and was restarted from its event log. */
/**
 * `stabilisation_expected_end`, `stabilisation_maximum`: a pause for victim care is still running at the end its
 * supervisor expected, or at the longest the SLA policy allows; the supervisor reviews it.
 */
export type NotificationKind =
  | 'sla_warning'
  | 'escalation'
  | 'assignment'
  | 'lead_healed'
  | 'stabilisation_expected_end'
  | 'stabilisation_maximum'
  | (string & {});

export interface NotificationRecipient {
  /** Directory role: `assignee`, `supervisor`, `sac` or `hq`. */
  role: string;
  name?: string;
  email?: string;
  webhookUrl?: string;
}

/**
 * One intended delivery to one recipient over one channel. It carries identifiers, status, office, level and
 * deadline only: a notification leaves the system, so it must never hold a victim's personal data.
 */
export interface Notification {
  /** Unique per delivery; the same key on a retry means the same delivery. */
  idempotencyKey: string;
  leadId: string;
  channel: NotificationChannel;
  kind: NotificationKind;
  level?: number;
  office: string;
  stage?: string;
  status?: string;
  /** ISO 8601. */
  deadline?: string;
  recipient: NotificationRecipient;
  subject: string;
  text: string;
  link?: string;
}

export interface NotificationAdapter {
  readonly channel: NotificationChannel;
  /** Resolves once the channel accepted the notification; throws `NonRetryableDeliveryError` when it never will. */
  send(notification: Notification): Promise<void>;
}

/**
 * The channel refused the notification for a reason a retry cannot fix (HTTP 4xx, SMTP 5xx, no address).
 * Any other error is transient and worth retrying.
 */
export class NonRetryableDeliveryError extends Error {
  override readonly name = 'NonRetryableDeliveryError';
}
