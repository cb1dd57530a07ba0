import type { z } from 'zod';
import type { commandData, CommandType } from '../schemas/commands';
import type { RecordedEvent } from '../schemas/events';
import type { LeadIntake } from '../schemas/intake';
import type { Priority, SlaStage } from '../schemas/lead';

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

/** What the workflow may ask of the outside world; the worker wires the implementations. */
export interface LeadActivities {
  /**
   * `committedAt` is this worker's clock once the append committed (ms since the epoch). Appends recorded before
   * it existed lack it.
   */
  recordEvents(input: RecordEventsInput): Promise<{ version: number; duplicate: boolean; committedAt?: number }>;
  validateLead(input: { leadId: string; intake: LeadIntake }): Promise<z.input<(typeof commandData)['ValidateLead']>>;
  routeLead(input: { leadId: string; jurisdiction: string }): Promise<{ office: string } | null>;
  notifyEscalation(notice: EscalationNotice): Promise<{ delivered: number; failed: number }>;
  notifyAssignment(notice: AssignmentNotice): Promise<{ delivered: number; failed: number }>;
}
