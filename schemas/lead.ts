import { z } from 'zod';
import { LeadKind, LeadSource } from './intake';
import {
  leadStatuses,
  partnerAcknowledgements,
  partnerMilestones,
  safetyAnswers,
  stabilisationCategories,
  stabilisationReminders,
} from './vocabulary';
import { storableString, text } from './text';

export { leadStatuses, terminalStatuses, isTerminal } from './vocabulary';
export const LeadStatus = z.enum(leadStatuses);
export type LeadStatus = z.infer<typeof LeadStatus>;

export const Priority = z.enum(['standard', 'urgent']);
export type Priority = z.infer<typeof Priority>;

/** The SLA stage is named for the step the office owes while the lead sits in a status. */
export const slaStages = ['validation', 'assignment', 'interview_request', 'interview', 'disposition'] as const;
export const SlaStage = z.enum(slaStages);
export type SlaStage = z.infer<typeof SlaStage>;

export const OfficeId = storableString().regex(
  /^[A-Z0-9][A-Z0-9-]{1,39}$/,
  'office must be an upper-case office id such as HSI-NEWARK',
);
export const AgentId = text(100);
export const Iso = z.iso.datetime({ offset: true });
export const LeadId = z.uuid();

export const closeReasons = [
  'invalid',
  'duplicate',
  'no_trafficking_indicators',
  'referred_to_other_agency',
  'victim_declined',
  'unable_to_locate',
  'other',
] as const;
export const CloseReason = z.enum(closeReasons);
export type CloseReason = z.infer<typeof CloseReason>;

export const InterviewOutcome = z.enum([
  'victim_identified',
  'no_trafficking_indicators',
  'victim_declined',
  'unable_to_locate',
]);
export type InterviewOutcome = z.infer<typeof InterviewOutcome>;

export const SlaClock = z.object({
  stage: SlaStage.nullable(),
  /** Time the stage may take, already scaled by the policy's time scale. */
  budgetMs: z.number().nonnegative(),
  /** Time the clock ran before the latest (re)start. */
  usedMs: z.number().nonnegative(),
  /** When the clock last started; null while paused or when no clock runs. */
  runningSince: Iso.nullable(),
  paused: z.boolean(),
  pausedAt: Iso.nullable(),
  warned: z.boolean(),
  level: z.number().int().min(0).max(3),
  /** An acknowledgement holds further escalation until this instant. */
  holdUntil: Iso.nullable(),
  /** The stabilisation pause the clock is in, if any. Absent in clocks kept before stabilisation pauses existed. */
  stabilisation: z
    .object({
      category: z.enum(stabilisationCategories),
      expectedEnd: Iso,
      maximumEnd: Iso,
      /** The reminders already recorded: each is sent once. */
      reminded: z.array(z.enum(stabilisationReminders)),
    })
    .nullable()
    .optional(),
});
export type SlaClock = z.infer<typeof SlaClock>;

/** The lead's state as the workflow holds it. It carries no personal data: that stays in the intake event. */
export const LeadState = z.object({
  leadId: LeadId,
  version: z.number().int().nonnegative(),
  status: LeadStatus,
  priority: Priority,
  source: LeadSource,
  kind: LeadKind,
  jurisdiction: z.string(),
  receivedAt: Iso,
  updatedAt: Iso,
  fingerprint: z.string().nullable(),
  office: OfficeId.nullable(),
  agent: AgentId.nullable(),
  interview: z
    .object({
      scheduledFor: Iso,
      interpreterLanguage: z.string().nullable(),
      victimSpecialist: z.boolean(),
      outcome: InterviewOutcome.nullable(),
    })
    .nullable(),
  caseNumber: z.string().nullable(),
  closedReason: CloseReason.nullable(),
  duplicateOf: LeadId.nullable(),
  noteCount: z.number().int().nonnegative(),
  sla: SlaClock,
  /**
   * What the contact-safety rules need to know, folded from the intake and every SafetyRecorded: conclusions only,
   * no free text. Still about a victim, so the read model keeps it sealed and the API does not publish it. Absent in
   * states carried from runs before it existed.
   */
  safety: z
    .object({
      safeToContact: z.enum(safetyAnswers),
      consentToContact: z.enum(safetyAnswers),
      minor: z.boolean(),
      needsInterpreter: z.boolean(),
      immediateDanger: z.boolean(),
    })
    .optional(),
  /**
   * The partner loop's clock: what the referring partner is owed and has been told. Status facts only, nothing about
   * a victim; absent for public tips.
   */
  partner: z
    .object({
      /** The partner directory id the intake named, or null (then the intake's partner email is the channel). */
      id: z.string().nullable(),
      budgetMs: z.number().nonnegative(),
      /** When the acknowledgement falls due (100 % of its budget, from intake). */
      dueAt: Iso,
      acknowledgedAt: Iso.nullable(),
      acknowledgedBy: z.enum(partnerAcknowledgements).nullable(),
      /** The rungs of the late acknowledgement already recorded: 0, 1 (supervisor) or 2 (HQ). */
      overdueLevel: z.number().int().min(0).max(2),
      /** The milestones recorded, in order, each with its time; a closure with its category (the close reason). */
      milestones: z.array(
        z.object({
          milestone: z.enum(partnerMilestones),
          at: Iso,
          category: CloseReason.nullable(),
        }),
      ),
    })
    .optional(),
  /** Recent command ids, so a command delivered twice is recorded once. */
  recentCommandIds: z.array(z.string()),
  /**
   * Beside each recent command id, a short digest of what it asked for, so the id reused for another request is
   * refused rather than ignored. '' where it is not known: a state carried over from a run before digests were kept.
   */
  recentCommandDigests: z.array(z.string()).optional(),
});
export type LeadState = z.infer<typeof LeadState>;
