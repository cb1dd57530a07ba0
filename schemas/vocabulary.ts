/**
 * The domain's closed lists of names, as plain constants with no zod in them. The workflow bundle imports
 * these; it must not import zod, which the SDK would evaluate again for every cached lead (~2 MB each).
 * The zod schemas in this folder are built from the same lists.
 */

export const leadStatuses = [
  'received',
  'validated',
  'assigned',
  'interview_requested',
  'interview_completed',
  'case_opened',
  'closed',
] as const;
export type LeadStatusName = (typeof leadStatuses)[number];

export const terminalStatuses: readonly LeadStatusName[] = ['case_opened', 'closed'];
export function isTerminal(status: LeadStatusName): boolean {
  return terminalStatuses.includes(status);
}

/** The commands a person or a service may send. */
export const externalCommandTypes = [
  'ValidateLead',
  'AssignLead',
  'ReassignLead',
  'RequestInterview',
  'RescheduleInterview',
  'CompleteInterview',
  'OpenCase',
  'CloseLead',
  'PauseSla',
  'ResumeSla',
  'AcknowledgeEscalation',
  'ChangePriority',
  'AddNote',
  'RecordSafety',
  'PauseForStabilisation',
  'AcknowledgePartner',
] as const;
export type ExternalCommandType = (typeof externalCommandTypes)[number];

/** Every command the lead workflow decides on: the external ones, the intake, and its own timer's. */
export const commandTypes = ['ReceiveLead', ...externalCommandTypes, 'CheckSla'] as const;
export type CommandType = (typeof commandTypes)[number];

/** What is known of whether the victim may be contacted safely, or has consented to contact. */
export const safetyAnswers = ['yes', 'no', 'unknown'] as const;
export type SafetyAnswer = (typeof safetyAnswers)[number];

/** The victim care a stabilisation pause is for. */
export const stabilisationCategories = ['medical', 'shelter', 'legal', 'counselling'] as const;
export type StabilisationCategory = (typeof stabilisationCategories)[number];

/**
 * The policy's default for the longest a stabilisation pause runs before its supervisor is reminded again (14 days);
 * also the value for leads whose policy predates the setting.
 */
export const DEFAULT_MAXIMUM_PAUSE_MS = 14 * 86_400_000;

/** The two reminders of a stabilisation pause: at the end the supervisor expected, and at the policy's maximum. */
export const stabilisationReminders = ['expected_end', 'maximum'] as const;
export type StabilisationReminderKind = (typeof stabilisationReminders)[number];

/** The contact-safety rules `RequestInterview` must satisfy; a refusal names the ones it broke. */
export const contactSafetyRules = [
  'contact_unsafe',
  'consent_not_given',
  'minor_needs_victim_specialist',
  'interpreter_needed',
] as const;
export type ContactSafetyRule = (typeof contactSafetyRules)[number];

/**
 * What the referring partner may know of its lead beyond its acknowledgement (issue 17, the partner loop): each is
 * read from an event already in the log (InterviewRequested, InterviewCompleted, CaseOpened, LeadClosed or
 * LeadRejected), and told once.
 */
export const partnerMilestones = ['interview_scheduled', 'interview_held', 'case_opened', 'lead_closed'] as const;
export type PartnerMilestone = (typeof partnerMilestones)[number];

/** How the partner's acknowledgement came: routing by the rules, a person's AcknowledgePartner, or a first milestone. */
export const partnerAcknowledgements = ['routing', 'command', 'milestone'] as const;
export type PartnerAcknowledgementWay = (typeof partnerAcknowledgements)[number];

/** The rungs of a late acknowledgement: 1 tells the office supervisor (HQ when no known office holds it), 2 HQ. */
export const partnerOverdueLevels = [1, 2] as const;
export type PartnerOverdueLevel = (typeof partnerOverdueLevels)[number];
/** The partner ladder's fractions of the acknowledgement budget for policies from before the partner loop. */
export const DEFAULT_PARTNER_LADDER: readonly [number, number] = [1, 2];
