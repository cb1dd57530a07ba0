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
] as const;
export type ExternalCommandType = (typeof externalCommandTypes)[number];

/** Every command the lead workflow decides on: the external ones, the intake, and its own timer's. */
export const commandTypes = ['ReceiveLead', ...externalCommandTypes, 'CheckSla'] as const;
export type CommandType = (typeof commandTypes)[number];
