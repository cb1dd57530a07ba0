import type { Notification, NotificationRecipient, PartnerFacing } from './types';
import { channelsFor } from './compose';

/** What a partner is told of its lead: the status, when, and a closure's category. No lead id, office or person. */
export interface PartnerNoticeFacts {
  /** The event that calls for it: with the channel it makes the delivery's idempotency key. */
  causationId: string;
  leadId: string;
  kind: 'partner_acknowledgement' | 'partner_milestone';
  status: string;
  at: string;
  category: string | null;
  reference: string | null;
  /** Kept internally (the notifications table, the log channel): which office's lead this was. */
  office: string;
}

const words: Record<string, string> = {
  acknowledged: 'The investigating office has your referral and will respond to it.',
  interview_scheduled: 'An interview has been scheduled.',
  interview_held: 'The interview has taken place.',
  case_opened: 'A case has been opened.',
  lead_closed: 'The referral has been closed.',
};

const titles: Record<string, string> = {
  acknowledged: 'received and acknowledged',
  interview_scheduled: 'interview scheduled',
  interview_held: 'interview held',
  case_opened: 'case opened',
  lead_closed: 'closed',
};

/** One notification per reachable channel of the partner, in words for the partner rather than for agents. */
export function composePartnerNotifications(
  facts: PartnerNoticeFacts,
  recipient: NotificationRecipient,
): Notification[] {
  const partner: PartnerFacing = {
    reference: facts.reference,
    status: facts.status,
    at: facts.at,
    category: facts.category,
  };
  // The partner's reference is not in the subject or the text: those are kept in the notifications table and the log
  // channel, and the reference is sealed where the intake is. The adapters add it for the partner.
  const text = [
    words[facts.status] ?? `Status: ${facts.status}`,
    `Status: ${facts.status}`,
    `Since: ${facts.at}`,
    facts.category === null ? undefined : `Category: ${facts.category}`,
    '',
    'This notice carries your own reference and the status of your referral only. To protect the people concerned, it',
    'never names victims, places, officers or details of the investigation.',
  ]
    .filter((line): line is string => line !== undefined)
    .join('\n');
  const title = titles[facts.status] ?? facts.status;
  return channelsFor(recipient).map((channel) => ({
    idempotencyKey: `${facts.causationId}:partner:${channel}`,
    leadId: facts.leadId,
    channel,
    kind: facts.kind,
    office: facts.office,
    status: facts.status,
    recipient: { ...recipient },
    subject: `Your referral: ${title}${facts.category === null ? '' : ` (${facts.category.replaceAll('_', ' ')})`}`,
    text,
    partner,
  }));
}
