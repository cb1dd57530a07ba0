import type { Notification, NotificationChannel, NotificationKind, NotificationRecipient } from './types';

/**
 * What a notification may say about a lead. Identifiers, status and clocks only: the builder never sees
 * the intake, so no victim's personal data can reach a message.
 */
export interface NotificationFacts {
  /** Id of the event that calls for the notification; keeps the idempotency key stable across retries. */
  causationId: string;
  leadId: string;
  kind: NotificationKind;
  office: string;
  level?: number;
  stage?: string;
  status?: string;
  priority?: string;
  /** ISO 8601. */
  deadline?: string;
  /** For `lead_healed`: what Temporal showed of the lead's workflow before it was restarted (`TERMINATED`, `missing`). */
  workflowWas?: string;
  /** For `lead_healed`: how many events of the log the restarted workflow carries. */
  version?: number;
}

export interface ComposeOptions {
  /** Base of the supervisors' UI or API, e.g. `https://leadline.example.gov`; the link is `<base>/leads/<id>`. */
  linkBase?: string;
}

/** One notification per recipient and reachable channel; a recipient with no address is logged instead. */
export function composeNotifications(
  facts: NotificationFacts,
  recipients: readonly NotificationRecipient[],
  options: ComposeOptions = {},
): Notification[] {
  return recipients.flatMap((recipient) =>
    channelsFor(recipient).map((channel) => composeNotification(facts, recipient, channel, options)),
  );
}

export function channelsFor(recipient: NotificationRecipient): NotificationChannel[] {
  const channels: NotificationChannel[] = [];
  if (recipient.email !== undefined) channels.push('email');
  if (recipient.webhookUrl !== undefined) channels.push('webhook');
  return channels.length === 0 ? ['log'] : channels;
}

export function composeNotification(
  facts: NotificationFacts,
  recipient: NotificationRecipient,
  channel: NotificationChannel,
  options: ComposeOptions = {},
): Notification {
  // Fields are copied one by one so that a caller passing a richer object cannot widen what is sent.
  const { causationId, leadId, kind, office, level, stage, status, priority, deadline, workflowWas, version } = facts;
  const link = options.linkBase === undefined ? undefined : `${options.linkBase.replace(/\/+$/, '')}/leads/${leadId}`;
  const lines = [
    `Lead: ${leadId}`,
    `Office: ${office}`,
    stage === undefined ? undefined : `Stage: ${stage}`,
    status === undefined ? undefined : `Status: ${status}`,
    priority === undefined ? undefined : `Priority: ${priority}`,
    deadline === undefined
      ? undefined
      : `${kind.startsWith('stabilisation_') ? 'Reminder due' : kind === 'partner_acknowledgement_overdue' ? 'Acknowledgement due' : 'Stage deadline'}: ${deadline}`,
    level === undefined ? undefined : `Escalation level: ${level}`,
    workflowWas === undefined ? undefined : `Workflow before the restart: ${workflowWas}`,
    version === undefined ? undefined : `Events in its log: ${version}`,
    '',
    'Leadline notifications carry no personal data. Open the lead in Leadline to see its details.',
  ].filter((line): line is string => line !== undefined);

  return {
    idempotencyKey: `${causationId}:${recipient.role}:${channel}`,
    leadId,
    channel,
    kind,
    ...(level === undefined ? {} : { level }),
    office,
    ...(stage === undefined ? {} : { stage }),
    ...(status === undefined ? {} : { status }),
    ...(deadline === undefined ? {} : { deadline }),
    recipient: { ...recipient },
    subject: subjectFor(kind, leadId, office, level, stage, workflowWas),
    text: lines.join('\n'),
    ...(link === undefined ? {} : { link }),
  };
}

function subjectFor(
  kind: NotificationKind,
  leadId: string,
  office: string,
  level: number | undefined,
  stage: string | undefined,
  workflowWas: string | undefined,
): string {
  const where = stage === undefined ? '' : ` (${stage})`;
  switch (kind) {
    case 'sla_warning':
      return `[Leadline] SLA warning: lead ${leadId}${where} nears its deadline`;
    case 'escalation':
      return `[Leadline] Escalation level ${level ?? '?'}: lead ${leadId}${where} is overdue`;
    case 'assignment':
      return `[Leadline] Lead ${leadId} assigned to ${office}`;
    case 'stabilisation_expected_end':
      return `[Leadline] Stabilisation pause of lead ${leadId} (${office}) reached its expected end: review it`;
    case 'stabilisation_maximum':
      return `[Leadline] Stabilisation pause of lead ${leadId} (${office}) reached the longest the SLA policy allows: review it`;
    case 'partner_acknowledgement_overdue':
      return `[Leadline] Partner not acknowledged: lead ${leadId} (${office}) has waited past its acknowledgement deadline (level ${level ?? '?'})`;
    case 'lead_healed':
      return `[Leadline] Lead ${leadId} (${office}) restarted from its event log: its workflow was ${workflowWas ?? 'not running'}`;
    default:
      return `[Leadline] ${kind}: lead ${leadId}`;
  }
}
