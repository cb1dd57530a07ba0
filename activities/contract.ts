import type { z } from 'zod';
import type { commandData, CommandType } from '../schemas/commands';
import type { RecordedEvent } from '../schemas/events';
import type { LeadIntake } from '../schemas/intake';
import type { Priority, SlaStage } from '../schemas/lead';
import type { PartnerMilestone, PartnerOverdueLevel, StabilisationReminderKind } from '../schemas/vocabulary';

export interface RecordEventsInput {
  leadId: string;
  /** The log's version the workflow last saw; the store refuses the append if it differs. */
  expectedVersion: number;
  events: RecordedEvent[];
  /**
   * The command the events answer. Its data is checked against the command's schema before the append:
   * the workflow does not run zod itself, and nothing malformed may reach the log.
   */
  command?: { type: CommandType; data: unknown };
  /** The workflow run that appends; kept beside each event so events from another run can be told apart. */
  writer?: string;
}

export interface RecordEventsResult {
  version: number;
  duplicate: boolean;
  /**
   * This worker's clock once the append committed (ms since the epoch). Absent when the log was ahead
   * (`duplicate` or `adopted`).
   */
  committedAt?: number;
  /**
   * The events as this append committed them, which the workflow folds instead of its proposal: the marker of the
   * append keeps them, so a replay folds what the log holds even where its own proposal would differ (another
   * clock, ids drawn in another order by a re-run task). The ids differ from the proposal's when one of them was
   * already in the log at another position. Absent when the log was ahead (`duplicate` or `adopted`).
   */
  events?: RecordedEvent[];
  /**
   * Present when the log did not take the proposed events as they were: it already held events from
   * `expectedVersion` on (an earlier attempt of this workflow task committed them before a crash, or, in
   * error, another writer did). These are the log's events from there to its end; the workflow folds them
   * instead of its proposal, because the log is the record. `foreignWriter` is true when any of them was
   * written by another workflow run.
   */
  adopted?: { events: RecordedEvent[]; foreignWriter: boolean };
}

export interface EscalationNotice {
  leadId: string;
  /** The SLA event's id: with the recipient it makes the delivery's idempotency key. */
  eventId: string;
  kind: 'sla_warning' | 'escalation';
  level: 0 | 1 | 2 | 3;
  stage: SlaStage;
  deadline: string;
  office: string | null;
  agent: string | null;
  priority: Priority;
}

export interface AssignmentNotice {
  leadId: string;
  /** The assignment event's id, for the delivery's idempotency key. */
  eventId: string;
  office: string;
  agent: string | null;
  priority: Priority;
  stage: SlaStage | null;
  deadline: string | null;
}

/** A stabilisation pause still running at its expected end or at the policy's maximum: its supervisor is told. */
export interface StabilisationNotice {
  leadId: string;
  /** The StabilisationReminded event's id, for the delivery's idempotency key. */
  eventId: string;
  reminder: StabilisationReminderKind;
  /** When the reminder fell due (ISO 8601). */
  due: string;
  office: string | null;
  priority: Priority;
}

/**
 * The partner loop's notices. `partner_acknowledgement` and `partner_milestone` go to the referring partner (its
 * channels come from the partner directory or the intake, which the activity reads from the log: no address travels
 * through Temporal); `partner_acknowledgement_overdue` to the office supervisor (rung 1) or HQ (rung 2).
 */
export type PartnerNotice =
  | {
      kind: 'partner_acknowledgement' | 'partner_milestone';
      leadId: string;
      /** The event that gave it (LeadAssigned, PartnerAcknowledged, a milestone's): the idempotency key's root. */
      eventId: string;
      status: 'acknowledged' | PartnerMilestone;
      at: string;
      category: string | null;
      partnerId: string | null;
      office: string | null;
    }
  | {
      kind: 'partner_acknowledgement_overdue';
      leadId: string;
      eventId: string;
      level: PartnerOverdueLevel;
      dueAt: string;
      office: string | null;
      priority: Priority;
    };

/** What the workflow may ask of the outside world; the worker wires the implementations. */
export interface LeadActivities {
  recordEvents(input: RecordEventsInput): Promise<RecordEventsResult>;
  validateLead(input: { leadId: string; intake: LeadIntake }): Promise<z.input<(typeof commandData)['ValidateLead']>>;
  routeLead(input: { leadId: string; jurisdiction: string }): Promise<{ office: string } | null>;
  notifyEscalation(notice: EscalationNotice): Promise<{ delivered: number; failed: number }>;
  notifyAssignment(notice: AssignmentNotice): Promise<{ delivered: number; failed: number }>;
  notifyStabilisationReminder(notice: StabilisationNotice): Promise<{ delivered: number; failed: number }>;
  notifyPartner(notice: PartnerNotice): Promise<{ delivered: number; failed: number }>;
  /** Audits a cancellation request the workflow refused (a lead ends only by its own commands). */
  recordCancellationRefused(input: { leadId: string; runId: string; requestedAt: string }): Promise<void>;
}
