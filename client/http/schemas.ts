import { z } from 'zod';
import { commandTypes } from '../../schemas/commands';
import { eventTypes } from '../../schemas/events';
import { LeadIntake } from '../../schemas/intake';
import { Iso, LeadId, LeadState, LeadStatus, Priority } from '../../schemas/lead';
import { LeadListFilter, type LeadSummary } from '../../schemas/read-model';
import { text } from '../../schemas/text';
import type { TimelineEntry } from '../../domain/timeline';
import type { LeadReceipt, LeadSnapshot } from '../../workflows/messages';
import type { LeadView } from '../lead-client';

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
}) satisfies z.ZodType<LeadSummary>;

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
  allowedCommands: z.array(z.string()),
}) satisfies z.ZodType<Published<LeadView>>;

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

/** Schemas published under `components/schemas` in the OpenAPI document, named once. */
export function componentSchemas(): [z.ZodType, string][] {
  return [
    [LeadIntake, 'LeadIntake'],
    [LeadStateBody, 'LeadState'],
    [LeadReceiptBody, 'LeadReceipt'],
    [LeadAcceptedBody, 'LeadAccepted'],
    [LeadSummaryBody, 'LeadSummary'],
    [LeadPage, 'LeadPage'],
    [LeadViewBody, 'LeadView'],
    [LeadSnapshotBody, 'LeadSnapshot'],
    [TimelineEntryBody, 'TimelineEntry'],
    [LeadTimelineBody, 'LeadTimeline'],
    [ProblemBody, 'Problem'],
  ];
}

export { LeadListFilter };
