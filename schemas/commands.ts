import { z } from 'zod';
import { ContactSafety, LeadIntake } from './intake';
import { storableString, text } from './text';
import { AgentId, CloseReason, InterviewOutcome, Iso, LeadId, OfficeId, Priority } from './lead';
import { commandTypes, stabilisationCategories, type CommandType, type ExternalCommandType } from './vocabulary';

export { commandTypes, externalCommandTypes, type CommandType, type ExternalCommandType } from './vocabulary';

export const CommandMetadata = z.object({
  /** Who asked: a user id, a service name, or `system:<step>` for the workflow itself. */
  actor: text(200),
  /** When the workflow accepted the command (workflow time, so replay sees the same value). */
  at: Iso,
  /** Idempotency key: a command id seen before is recorded once. */
  commandId: text(200),
});
export type CommandMetadata = z.infer<typeof CommandMetadata>;

const reason = text(1000);

/** Commands' data, one schema per command type; the single source the union, updates and API routes come from. */
export const commandData = {
  ReceiveLead: z.object({ leadId: LeadId, intake: LeadIntake }),
  ValidateLead: z.discriminatedUnion('outcome', [
    z.object({ outcome: z.literal('valid'), fingerprint: storableString().min(1) }),
    z.object({
      outcome: z.literal('invalid'),
      fingerprint: storableString().min(1),
      problems: z.array(storableString()).min(1),
    }),
    z.object({ outcome: z.literal('duplicate'), fingerprint: storableString().min(1), duplicateOf: LeadId }),
  ]),
  AssignLead: z.object({ office: OfficeId, agent: AgentId.optional(), routed: z.boolean().default(false) }),
  ReassignLead: z.object({ office: OfficeId, agent: AgentId.optional(), reason }),
  RequestInterview: z.object({
    scheduledFor: Iso,
    place: text(300),
    interpreterLanguage: text(50).optional(),
    victimSpecialist: z.boolean(),
  }),
  RescheduleInterview: z.object({ scheduledFor: Iso, place: text(300).optional(), reason }),
  CompleteInterview: z.object({ outcome: InterviewOutcome }),
  OpenCase: z.object({
    caseNumber: storableString().regex(/^[A-Z0-9][A-Z0-9-]{3,40}$/, 'case number must be like HSI-NWK-2026-0001'),
  }),
  CloseLead: z.object({ reason: CloseReason, note: text(2000).optional() }),
  PauseSla: z.object({ justification: reason }),
  ResumeSla: z.object({}),
  AcknowledgeEscalation: z.object({ note: text(1000).optional() }),
  ChangePriority: z.object({ priority: Priority, reason }),
  AddNote: z.object({ text: text(5000) }),
  /** What is now known of the victim's safety and consent to contact; the fields left out keep what was known. */
  RecordSafety: ContactSafety.refine((d) => Object.values(d).some((v) => v !== undefined), {
    message: 'RecordSafety needs at least one of its fields',
  }),
  /** Pauses the clock for victim care: a supervisor's decision with a category and the end expected. */
  PauseForStabilisation: z
    .object({
      category: z.enum(stabilisationCategories),
      expectedEnd: Iso,
      justification: reason.optional(),
    })
    .strict(),
  /** Tells the referring partner that the office has its lead, when routing has not already done so. */
  AcknowledgePartner: z.object({}).strict(),
  /** Internal: the workflow's timer fired. */
  CheckSla: z.object({}),
} as const satisfies Record<CommandType, z.ZodType>;

type CommandOf<T extends CommandType> = { type: T; data: z.infer<(typeof commandData)[T]>; metadata: CommandMetadata };
export type LeadCommand = { [T in CommandType]: CommandOf<T> }[CommandType];
export type LeadCommandOf<T extends CommandType> = Extract<LeadCommand, { type: T }>;

const commandSchemas = commandTypes.map((type) =>
  z.object({ type: z.literal(type), data: commandData[type], metadata: CommandMetadata }),
);
export const LeadCommandSchema = z.discriminatedUnion(
  'type',
  commandSchemas as unknown as [(typeof commandSchemas)[number], ...(typeof commandSchemas)[number][]],
) as unknown as z.ZodType<LeadCommand>;

/** What a caller sends for a command: the workflow stamps the time. */
export const CommandRequestMetadata = CommandMetadata.omit({ at: true });
export type CommandRequestMetadata = z.infer<typeof CommandRequestMetadata>;
export type CommandRequest<T extends ExternalCommandType = ExternalCommandType> = {
  data: z.input<(typeof commandData)[T]>;
  metadata: CommandRequestMetadata;
};
