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
