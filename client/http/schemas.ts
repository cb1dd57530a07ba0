import { z } from 'zod';
import { commandTypes, externalCommandTypes } from '../../schemas/commands';
import { eventTypes } from '../../schemas/events';
import { LeadIntake } from '../../schemas/intake';
import { AgentId, Iso, LeadId, LeadState, LeadStatus, OfficeId, Priority } from '../../schemas/lead';
import { Role } from '../../schemas/caller';
import { LeadIdPrefixParam, LeadListFilter, StatusListParam, type LeadListItem } from '../../schemas/read-model';
import {
  EXAMPLE_AGENT,
  EXAMPLE_LEAD_ID,
  EXAMPLE_OFFICE,
  EXAMPLE_TIME,
  intakeExample,
  leadSummaryExample,
  meExample,
  nextRungExample,
  problemExample,
} from './examples';
import {
  Distribution,
  DurationsReport,
  EscalationsReport,
  OfficesReport,
  ReportInstant,
  SlaReport,
} from '../../schemas/reports';
import { text } from '../../schemas/text';
import type { TimelineEntry } from '../../domain/timeline';
import type { LeadReceipt, LeadSnapshot } from '../../workflows/messages';
import type { LeadView } from '../lead-client';
import type { Capabilities } from '../access-policy';

/*
 * What the HTTP API sends back. Every response passes through these schemas on its way out, so a field that is
 * not named here (a victim's name slipped into a snapshot, say) is stripped rather than published.
 */

export const LeadReceiptBody = z.object({
  leadId: LeadId,
  workflowId: z.string(),
  receivedAt: Iso,
}) satisfies z.ZodType<LeadReceipt>;

/** A 202's body: the receipt's names, without `receivedAt` (the intake is not recorded yet). */
export const LeadAcceptedBody = LeadReceiptBody.pick({ leadId: true, workflowId: true });

/** The next rung of the current stage's SLA ladder: which, and when it is due. */
export const NextRungBody = z.object({
  rung: z.enum(['warning', 'level1', 'level2', 'level3']),
  at: Iso,
});

export const LeadSummaryBody = z.object({
  leadId: LeadId,
  status: LeadStatus,
  priority: Priority,
  source: z.string(),
  kind: z.string(),
  office: z.string().nullable(),
  agent: z.string().nullable(),
  stage: z.string().nullable(),
  stageDeadline: Iso.nullable(),
  escalationLevel: z.number().int(),
  slaPaused: z.boolean(),
  caseNumber: z.string().nullable(),
  closedReason: z.string().nullable(),
  receivedAt: Iso,
  updatedAt: Iso,
  version: z.number().int(),
  overdue: z.boolean(),
  /** Null while paused, once finished, and past level 3. */
  nextRung: NextRungBody.nullable(),
  /** The current stage's budget in ms (the lead's priority, the policy's time scale); null once finished. */
  stageBudgetMs: z.number().int().nullable(),
}) satisfies z.ZodType<LeadListItem>;

export const LeadPage = z.object({
  items: z.array(LeadSummaryBody),
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: z.string().nullable(),
});

/**
 * The state as published: the ids and digests of past requests stay inside. The first id is the partner's reference
 * (an Idempotency-Key, or `source:externalReference`), and a note's digest could confirm a guess at it. What the
 * contact-safety rules know of a victim (a minor, unsafe contact) is personal data, read with the intake and its
 * stated purpose, not with the lead's status.
 */
export const LeadStateBody = LeadState.omit({ recentCommandIds: true, recentCommandDigests: true, safety: true });
/** A view or snapshot as published: its state without the ids and digests of past requests, nor its safety facts. */
type Published<T extends { state: object }> = Omit<T, 'state'> & {
  state: Omit<T['state'], 'recentCommandIds' | 'recentCommandDigests' | 'safety'>;
};

export const LeadViewBody = z.object({
  leadId: LeadId,
  from: z.enum(['workflow', 'read_model']),
  state: LeadStateBody,
  stageDeadline: Iso.nullable(),
  nextRung: NextRungBody.nullable(),
  stageBudgetMs: z.number().int().nullable(),
  /** The commands the lead's state allows now, whoever asks. */
  allowedCommands: z.array(z.string()),
  /** Those of them this caller's roles and offices allow: the ones worth showing as buttons. */
  allowedForYou: z.array(z.enum(externalCommandTypes)),
}) satisfies z.ZodType<Published<LeadView & { allowedForYou: string[] }>>;

/** GET /me: who the token says the caller is, and what its roles may ever do (a lead's own answer may be narrower). */
export const MeBody = z.object({
  subject: z.string(),
  roles: z.array(Role),
  offices: z.array(z.string()),
  may: z.object({
    /** Commands the roles may send to some lead in scope; whether a lead's state allows one is the lead's to say. */
    commands: z.array(z.enum(externalCommandTypes)),
    readIntake: z.boolean(),
    readAudit: z.boolean(),
    readReports: z.boolean(),
    simulatePolicies: z.boolean(),
    submitLeads: z.boolean(),
    readPartnerLeads: z.boolean(),
  }),
}) satisfies z.ZodType<Capabilities>;

const SlaActionBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('warning'), at: Iso }),
  z.object({ kind: z.literal('escalation'), level: z.union([z.literal(1), z.literal(2), z.literal(3)]), at: Iso }),
]);

export const LeadSnapshotBody = z.object({
  state: LeadStateBody,
  stageDeadline: Iso.nullable(),
  nextSlaAction: SlaActionBody.nullable(),
  allowedCommands: z.array(z.enum(commandTypes)),
  policyVersion: z.string(),
}) satisfies z.ZodType<Published<LeadSnapshot>>;

export const TimelineEntryBody = z.object({
  seq: z.number().int().positive(),
  type: z.enum(eventTypes),
  at: Iso,
  actor: z.string(),
  detail: z.record(z.string(), z.unknown()),
}) satisfies z.ZodType<TimelineEntry>;

export const LeadTimelineBody = z.object({ leadId: LeadId, events: z.array(TimelineEntryBody) });

/** RFC 9457 problem details; extension members ride along. */
export const ProblemBody = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ProblemBody = z.infer<typeof ProblemBody>;

export const HealthBody = z.object({ status: z.literal('ok') });
export const ReadyBody = z.object({
  status: z.literal('ok'),
  checks: z.object({ temporal: z.literal('ok'), postgres: z.literal('ok'), workers: z.literal('ok').optional() }),
});

export const LeadIdParams = z.object({ id: LeadId });

/** Headers the API reads; the rest pass through untouched. */
export const SubmitHeaders = z.looseObject({
  'idempotency-key': text(200).optional(),
  prefer: z
    .string()
    .optional()
    .describe('`respond-async`: answer 202 once Temporal holds the lead, before its intake is recorded (RFC 7240)'),
});

/** Whether a `Prefer` header (RFC 7240) asks for `respond-async`. */
export function prefersAsync(prefer: string | undefined): boolean {
  return (prefer ?? '').split(',').some((token) => token.split(';')[0]?.trim().toLowerCase() === 'respond-async');
}

/** What the OpenAPI document says of a schema: its component name, and an example that looks like a real value. */
export interface DocumentedSchema {
  id?: string;
  example?: unknown;
  // The type provider's registries take any JSON Schema keyword.
  [keyword: string]: unknown;
}

/**
 * Schemas published under `components/schemas` in the OpenAPI document, named once, and the shared field schemas
 * (ids, times, offices) with examples, so the document and Swagger UI show a uuid or an office id, not "string".
 */
export function componentSchemas(): [z.ZodType, DocumentedSchema][] {
  return [
    [LeadIntake, { id: 'LeadIntake', example: intakeExample }],
    [LeadStateBody, { id: 'LeadState' }],
    [LeadReceiptBody, { id: 'LeadReceipt' }],
    [LeadAcceptedBody, { id: 'LeadAccepted' }],
    [LeadSummaryBody, { id: 'LeadSummary', example: leadSummaryExample }],
    [LeadPage, { id: 'LeadPage', example: { items: [leadSummaryExample], nextCursor: 'eyJvIjo1MH0' } }],
    [LeadViewBody, { id: 'LeadView' }],
    [NextRungBody, { id: 'NextRung', example: nextRungExample }],
    [MeBody, { id: 'Me', example: meExample }],
    [LeadSnapshotBody, { id: 'LeadSnapshot' }],
    [TimelineEntryBody, { id: 'TimelineEntry' }],
    [LeadTimelineBody, { id: 'LeadTimeline' }],
    [ProblemBody, { id: 'Problem', example: problemExample }],
    [LeadId, { example: EXAMPLE_LEAD_ID }],
    [Iso, { example: EXAMPLE_TIME }],
    [OfficeId, { example: EXAMPLE_OFFICE }],
    [AgentId, { example: EXAMPLE_AGENT }],
    [StatusListParam, { example: 'assigned,validated' }],
    [LeadIdPrefixParam, { example: EXAMPLE_LEAD_ID.slice(0, 8) }],
    [LeadListFilter.shape.office.unwrap(), { example: EXAMPLE_OFFICE }],
    [LeadListFilter.shape.agent.unwrap(), { example: EXAMPLE_AGENT }],
    [LeadListFilter.shape.cursor.unwrap(), { example: 'eyJvIjo1MH0' }],
    [LeadIntake.shape.requestedInterview.unwrap().shape.preferredTime.unwrap(), { example: '2026-12-02T15:00:00Z' }],
    [OfficesReport, { id: 'OfficesReport' }],
    [SlaReport, { id: 'SlaReport' }],
    [Distribution, { id: 'Distribution' }],
    [DurationsReport, { id: 'DurationsReport' }],
    [EscalationsReport, { id: 'EscalationsReport' }],
    [ReportInstant, { example: EXAMPLE_TIME }],
  ];
}

export { LeadListFilter };
