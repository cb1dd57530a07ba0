import { z } from 'zod';
import { ContactSafety, LeadIntake, LeadKind, LeadSource, PartnerId } from './intake';
import { AgentId, CloseReason, InterviewOutcome, Iso, LeadId, OfficeId, Priority, SlaStage } from './lead';
import { CommandMetadata } from './commands';
import { stabilisationCategories, stabilisationReminders } from './vocabulary';

const budget = z.number().nonnegative();

/** Events' data, one schema per event type. Events that start an SLA stage carry its budget, so the fold needs no policy. */
export const eventData = {
  LeadReceived: z.object({
    leadId: LeadId,
    source: LeadSource,
    kind: LeadKind,
    jurisdiction: z.string(),
    priority: Priority,
    slaBudgetMs: budget,
    /** The partner's full intake: the only place personal data lives in the log. */
    intake: LeadIntake,
    /**
     * The partner loop's clock: the directory id the intake named, if any, and the acknowledgement budget in force.
     * Absent for public tips.
     */
    partner: z.object({ id: PartnerId.nullable(), acknowledgementBudgetMs: budget }).optional(),
  }),
  LeadValidated: z.object({ fingerprint: z.string(), slaBudgetMs: budget }),
  LeadRejected: z.object({
    reason: z.enum(['invalid', 'duplicate']),
    fingerprint: z.string(),
    problems: z.array(z.string()).optional(),
    duplicateOf: LeadId.optional(),
  }),
  LeadAssigned: z.object({ office: OfficeId, agent: AgentId.nullable(), routed: z.boolean(), slaBudgetMs: budget }),
  LeadReassigned: z.object({
    fromOffice: OfficeId.nullable(),
    office: OfficeId,
    agent: AgentId.nullable(),
    reason: z.string(),
  }),
  InterviewRequested: z.object({
    scheduledFor: Iso,
    place: z.string(),
    interpreterLanguage: z.string().nullable(),
    victimSpecialist: z.boolean(),
    slaBudgetMs: budget,
  }),
  InterviewRescheduled: z.object({ scheduledFor: Iso, place: z.string().nullable(), reason: z.string() }),
  InterviewCompleted: z.object({ outcome: InterviewOutcome, slaBudgetMs: budget }),
  CaseOpened: z.object({ caseNumber: z.string() }),
  LeadClosed: z.object({ reason: CloseReason, note: z.string().nullable() }),
  SlaPaused: z.object({ justification: z.string(), usedMs: z.number().nonnegative() }),
  SlaResumed: z.object({ pausedSince: Iso }),
  EscalationAcknowledged: z.object({
    level: z.number().int().min(1).max(3),
    holdUntil: Iso,
    note: z.string().nullable(),
  }),
  PriorityChanged: z.object({ from: Priority, to: Priority, reason: z.string(), slaBudgetMs: budget }),
  NoteAdded: z.object({ text: z.string() }),
  SlaWarning: z.object({ stage: SlaStage, deadline: Iso }),
  LeadEscalated: z.object({ stage: SlaStage, level: z.number().int().min(1).max(3), deadline: Iso }),
  /**
   * What an agent learned of the victim's safety and consent (sealed at rest, like the intake). When it marks the
   * victim in immediate danger or a minor, a standard lead becomes urgent here, with the stage's urgent budget.
   */
  SafetyRecorded: z.object({
    safety: ContactSafety,
    priority: z.object({ from: Priority, to: Priority, slaBudgetMs: budget }).nullable(),
  }),
  /** The clock paused for victim care; the reminders fall at `expectedEnd` and at `maximumEnd` (the policy's). */
  StabilisationPaused: z.object({
    category: z.enum(stabilisationCategories),
    expectedEnd: Iso,
    maximumEnd: Iso,
    justification: z.string().nullable(),
    usedMs: z.number().nonnegative(),
  }),
  /** The supervisor was reminded of a stabilisation pause still running at its expected end or its maximum. */
  StabilisationReminded: z.object({ reminder: z.enum(stabilisationReminders), due: Iso, pausedAt: Iso }),
  /** A person told the referring partner that the office has its lead (AcknowledgePartner). */
  PartnerAcknowledged: z.object({ dueAt: Iso }),
  /** The partner's acknowledgement is late: rung 1 tells the office supervisor, rung 2 HQ. */
  PartnerAcknowledgementOverdue: z.object({ level: z.union([z.literal(1), z.literal(2)]), dueAt: Iso }),
} as const;

export type EventType = keyof typeof eventData;
export const eventTypes = Object.keys(eventData) as EventType[];

type EventOf<T extends EventType> = { type: T; data: z.infer<(typeof eventData)[T]>; metadata: CommandMetadata };
export type LeadEvent = { [T in EventType]: EventOf<T> }[EventType];
export type LeadEventOf<T extends EventType> = Extract<LeadEvent, { type: T }>;

const eventSchemas = eventTypes.map((type) =>
  z.object({ type: z.literal(type), data: eventData[type], metadata: CommandMetadata }),
);
export const LeadEventSchema = z.discriminatedUnion(
  'type',
  eventSchemas as unknown as [(typeof eventSchemas)[number], ...(typeof eventSchemas)[number][]],
) as unknown as z.ZodType<LeadEvent>;

/** An event as stored: the id makes a retried append recognisable. */
export type RecordedEvent = LeadEvent & { eventId: string };
