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
  | 'partner_acknowledgement'
  | 'partner_milestone'
  | 'partner_acknowledgement_overdue'
  | (string & {});

/**
 * What a referring partner is told (the partner loop): its lead's status facts and its own reference, nothing else.
 * The reference is the partner's own and is sealed where the intake is, so it travels here only, to the adapters:
 * never into the notifications table, a log line, the subject or the text.
 */
export interface PartnerFacing {
  /** The partner's own reference for the lead (the intake's externalReference), if it gave one. */
  reference: string | null;
  /** `acknowledged`, or the milestone: `interview_scheduled`, `interview_held`, `case_opened`, `lead_closed`. */
  status: string;
  /** When it happened (ISO 8601). */
  at: string;
  /** A closed lead's category (the close reason); null otherwise. */
  category: string | null;
}

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
  /** Set for a notice to the referring partner: the adapters send its facts and reference instead of the office's. */
  partner?: PartnerFacing;
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
