import { z } from 'zod';
import { CloseReason, Iso } from './lead';
import { text } from './text';

/** `GET /partner/leads/{reference}`: the partner's own reference (its intake's externalReference). */
export const PartnerLeadParams = z.strictObject({ reference: text(100) });

/**
 * What a referring partner may know of its lead: status-level facts and their times, under its own reference. No lead
 * id, office, agent, note, place or intake data.
 */
export const PartnerLeadView = z.object({
  reference: z.string(),
  status: z.enum(['received', 'acknowledged', 'interview_scheduled', 'interview_held', 'case_opened', 'closed']),
  receivedAt: Iso,
  /** When the partner was acknowledged; null while it waits (`acknowledgementDueAt` says by when). */
  acknowledgedAt: Iso.nullable(),
  acknowledgementDueAt: Iso,
  interviewScheduledAt: Iso.nullable(),
  interviewHeldAt: Iso.nullable(),
  caseOpenedAt: Iso.nullable(),
  closed: z.object({ at: Iso, category: CloseReason }).nullable(),
});
export type PartnerLeadView = z.infer<typeof PartnerLeadView>;
