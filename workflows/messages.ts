import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { CommandRequest } from '../schemas/commands';
import { externalCommandTypes, type CommandType, type ExternalCommandType } from '../schemas/vocabulary';
import type { LeadIntake } from '../schemas/intake';
import type { LeadState } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';
import type { SlaAction, TimelineEntry } from '../domain';

export const LEADS_TASK_QUEUE = 'leads';
export const LEAD_WORKFLOW_TYPE = 'leadWorkflow';

/** Workflow ids carry only the lead's uuid: never anything about the victim. */
export function leadWorkflowId(leadId: string): string {
  return `lead-${leadId}`;
}

export interface LeadWorkflowInput {
  leadId: string;
  /** Versioned SLA policy in force for this lead; it travels with the lead so replays see the same clocks. */
  policy: SlaPolicy;
  /** Set on the first run only. */
  intake?: LeadIntake;
  submittedBy?: { actor: string; commandId: string };
  /** The submitter's digest of the intake, so a reused idempotency key with another intake is noticed. */
  intakeDigest?: string;
  /** Set when a run continues as new. */
  carried?: { state: LeadState; timeline: TimelineEntry[]; intakeDigest?: string };
}

export interface LeadSnapshot {
  state: LeadState;
  stageDeadline: string | null;
  nextSlaAction: SlaAction | null;
  allowedCommands: CommandType[];
  policyVersion: string;
}

export interface LeadReceipt {
  leadId: string;
  workflowId: string;
  receivedAt: string;
  /** Compared by the client with its own digest; not part of any API answer. */
  intakeDigest?: string;
}

/** Sent with start (update-with-start): answers once the intake is durably recorded, the same for every duplicate submission. */
export const leadReceivedUpdate = defineUpdate<LeadReceipt>('LeadReceived');

export const leadStateQuery = defineQuery<LeadSnapshot | null>('leadState');
export const leadTimelineQuery = defineQuery<TimelineEntry[]>('leadTimeline');

export type LeadCommandUpdates = {
  [T in ExternalCommandType]: ReturnType<typeof defineUpdate<LeadSnapshot, [CommandRequest<T>], T>>;
};

/** One Update per command of the design; each returns the snapshot after its events are durably recorded. */
export const leadCommandUpdates = Object.fromEntries(
  externalCommandTypes.map((type) => [type, defineUpdate<LeadSnapshot, [CommandRequest]>(type)]),
) as unknown as LeadCommandUpdates;

/** PII-free search attributes, registered on the namespace at start-up. */
export const leadSearchAttributes = {
  status: defineSearchAttributeKey('LeadStatus', SearchAttributeType.KEYWORD),
  priority: defineSearchAttributeKey('LeadPriority', SearchAttributeType.KEYWORD),
  office: defineSearchAttributeKey('LeadOffice', SearchAttributeType.KEYWORD),
  source: defineSearchAttributeKey('LeadSource', SearchAttributeType.KEYWORD),
  escalationLevel: defineSearchAttributeKey('EscalationLevel', SearchAttributeType.INT),
  nextDeadline: defineSearchAttributeKey('NextDeadline', SearchAttributeType.DATETIME),
} as const;
