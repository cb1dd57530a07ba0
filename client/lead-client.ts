import { createHash, createHmac, randomUUID } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes, type UpdateDefinition } from '@temporalio/common';
import { type z } from 'zod';
import { formatDatabaseError, isDatabaseUnavailable, isDataError } from '../activities/database-errors';
import { DEFAULT_MAX_SUBMISSIONS_IN_FLIGHT, DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS } from '../activities/config';
import { commandData, type CommandRequest, type ExternalCommandType } from '../schemas/commands';
import { LeadIntake, type LeadIntakeInput, type QueuedLead } from '../schemas/intake';
import { LeadId, type LeadState } from '../schemas/lead';
import {
  LeadListFilter,
  type LeadListItem,
  type LeadListQuery,
  type LeadSummary,
  type NextRung,
  type StoredLeadSummary,
} from '../schemas/read-model';
import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '../schemas/text';

export { LeadListFilter, type LeadSummary };
import type { SlaPolicy } from '../schemas/sla-policy';
import { commandDigest } from '../domain/command-digest';
import { currentStageBudgetMs, nextRung, rungOf } from '../domain/sla';
import type { TimelineEntry } from '../domain/timeline';
import {
  LEAD_WORKFLOW_TYPE,
  leadCommandUpdates,
  leadReceivedUpdate,
  leadSearchAttributes,
  leadStateQuery,
  leadTimelineQuery,
  leadWorkflowId,
  type LeadReceipt,
  type LeadSnapshot,
  type LeadWorkflowInput,
} from '../workflows/messages';
import {
  CommandIdConflictError,
  CommandRejectedError,
  IdempotencyConflictError,
  InvalidInputError,
  LeadNotFoundError,
  LeadPendingError,
  OutcomeUnknownError,
  OverloadedError,
  UnavailableError,
} from './errors';
import { SentToTemporal, grpcCodeOf } from './sent-to-temporal';

/** Read side for what the workflow no longer holds (closed leads) and for lists across leads. */
export interface LeadReadModel {
  getLead(leadId: string): Promise<{ summary: LeadSummary; state: LeadState } | undefined>;
  listLeads(
    filter: LeadListQuery,
    offices?: readonly string[],
    subject?: string,
  ): Promise<{ items: StoredLeadSummary[]; nextCursor: string | null }>;
  timeline(leadId: string): Promise<TimelineEntry[] | undefined>;
}

/**
 * Where leads accepted with `acceptLead` wait until their workflow is started (PostgreSQL in Leadline:
 * activities/intake-queue.ts; worker/intake-forwarder.ts starts them). `queued`: stored, now or before from the same
 * intake; `conflict`: waiting with another intake under the same key; `known`: its workflow was started;
 * `unavailable`: the queue cannot be reached now.
 */
export interface LeadIntakeQueue {
  enqueue(lead: QueuedLead): Promise<'queued' | 'conflict' | 'known' | 'unavailable'>;
  /**
   * Takes the key for a synchronous submission before its workflow is started, so an `enqueue` of the key under
   * another intake finds it `known` rather than queueing it. `conflict`: waiting with another intake.
   */
  reserve(lead: Pick<QueuedLead, 'leadId' | 'intakeDigest'>): Promise<'reserved' | 'conflict' | 'unavailable'>;
  /** The intake digest of the lead if it waits in the queue; undefined if it does not (or cannot be read). */
  waiting(leadId: string): Promise<string | undefined>;
}

export interface LeadClientOptions {
  temporal: Client;
  taskQueue: string;
  policy: SlaPolicy;
  readModel: LeadReadModel;
  /**
   * The office ids of the directory (config/offices.json). With them, AssignLead and ReassignLead to any other office
   * are refused as bad input, naming the office, before anything is sent: a lead must never be recorded at an office
   * that does not exist (its notices would have no one to go to). Without them, any well-formed office id is taken.
   */
  offices?: readonly string[];
  /**
   * With a queue, `acceptLead` answers once the lead is durably queued, whether or not Temporal can take it now;
   * without one (or while the queue cannot be reached), once Temporal has started its workflow.
   */
  intakeQueue?: LeadIntakeQueue;
  /**
   * Told of every command the lead refused or that could not be delivered, so the audit trail has the
   * attempts as well as the recorded commands (those the event store audits in its own transaction).
   */
  onCommandRefused?: (entry: {
    actor: string;
    leadId: string;
    command: string;
    outcome: 'refused' | 'failed';
    reason: string;
  }) => Promise<void>;
  /**
   * How long a call may wait on Temporal (for example while no worker polls) before it gives up: Unavailable if the
   * request was never sent, OutcomeUnknownError if it was. Default 15 s.
   */
  requestTimeoutMs?: number;
  /**
   * Submissions recorded at once; one more is refused at once with OverloadedError (HTTP 429) instead of
   * queueing until its deadline. Default DEFAULT_MAX_SUBMISSIONS_IN_FLIGHT.
   */
  maxSubmissionsInFlight?: number;
  /** A new lead's workflow-task timeout (LEADLINE_WORKFLOW_TASK_TIMEOUT). Default DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS. */
  workflowTaskTimeoutSeconds?: number;
  /**
   * The secret that keys lead ids derived from an Idempotency-Key or a partner's reference (LEADLINE_FINGERPRINT_KEY):
   * without it, anyone who can guess a reference could compute its lead's id and workflow id.
   */
  leadIdKey: string;
  /**
   * Where to look for a lead Leadline 1.0.0 named by the unkeyed hash of its key (activities/legacy-lead-ids.ts), so a
   * submission retried across the upgrade finds it; unset (a store that never ran 1.0.0): not looked for.
   */
  legacyLeadIds?: { holds(leadId: string): Promise<boolean> };
}

/** A lead durably accepted (queued, or started by Temporal) whose intake may not be recorded yet, or the receipt of one already known. */
export type LeadAcceptance =
  { accepted: true; leadId: string; workflowId: string } | ({ accepted: false } & Omit<LeadReceipt, 'intakeDigest'>);

export interface SubmitOptions {
  actor: string;
  /** The caller's idempotency key; without one, the source and external reference serve, if given. */
  idempotencyKey?: string;
}

/** Who sends a command, and its idempotency key (a new one when left out). */
export interface CommandBy {
  actor: string;
  commandId?: string;
}

export interface LeadView {
  leadId: string;
  /** `workflow`: live state by query; `read_model`: the lead is finished and was read from PostgreSQL. */
  from: 'workflow' | 'read_model';
  state: LeadState;
  stageDeadline: string | null;
  /** The next rung of the current stage's ladder, as the lead's own workflow will fire it. */
  nextRung: NextRung | null;
  stageBudgetMs: number | null;
  allowedCommands: string[];
}

/** A lead's id, its intake's digest and the workflow start that carries it. */
interface Submission {
  leadId: string;
  workflowId: string;
  intakeDigest: string;
  input: LeadWorkflowInput & { intake: LeadIntake; submittedBy: { actor: string; commandId: string } };
  start: {
    workflowId: string;
    taskQueue: string;
    args: [LeadWorkflowInput];
    workflowIdReusePolicy: 'REJECT_DUPLICATE';
    typedSearchAttributes: TypedSearchAttributes;
  };
}

const LEADLINE_NAMESPACE_UUID = '1b0d6a5e-4f3c-5a7e-9c2d-6e8f0a1b2c3d';

/** Less than this left of a request's budget and it is not sent to Temporal (LeadClient#checkTimeLeft). */
const MIN_TIME_FOR_TEMPORAL_MS = 250;

/**
 * The lead a key names: the same key (and secret) always names the same lead, and the id says nothing of the key to
 * whoever lacks the secret. A uuid of version 8 (RFC 9562's custom layout) from HMAC-SHA-256.
 */
export function leadIdForKey(key: string, secret: string): string {
  return uuidOf(createHmac('sha256', secret).update('leadline lead id\0').update(key).digest(), 8);
}

/**
 * How 1.0.0 named a keyed lead: an unkeyed (v5-style) hash of the key. Kept only so that a submission retried across
 * the upgrade finds the lead 1.0.0 started rather than making a second; remove it in 2.0.
 */
export function legacyLeadIdForKey(key: string): string {
  const ns = Buffer.from(LEADLINE_NAMESPACE_UUID.replace(/-/g, ''), 'hex');
  return uuidOf(createHash('sha1').update(ns).update(key).digest(), 5);
}

/** A hash's first 16 bytes as a uuid of `version`, with RFC 9562's variant bits. */
function uuidOf(hash: Buffer, version: number): string {
  hash[6] = ((hash[6] ?? 0) & 0x0f) | (version << 4);
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Who sent it and its keys are stored (the audit, the log, Temporal's ids) like the data itself, so they are held
 * to the same rule at this entry point too, for callers that do not come through the HTTP API's schemas.
 */
function checkStorable(message: string, fields: Record<string, string | undefined>) {
  const issues = Object.entries(fields)
    .filter(([, value]) => value !== undefined && !isStorableText(value))
    .map(([path]) => ({ path, message: UNSTORABLE_TEXT_MESSAGE }));
  if (issues.length > 0) throw new InvalidInputError(message, issues);
}

function issuesOf(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message }));
}

/** Typed entry point for backend services: every call goes through Temporal, reads fall back to PostgreSQL. */
export class LeadClient {
  private submissionsInFlight = 0;
  private readonly sent: SentToTemporal;

  constructor(private readonly options: LeadClientOptions) {
    this.sent = new SentToTemporal(options.temporal);
  }

  /** Starts the lead's workflow, or finds it: the same key always gives the same lead and the same answer. */
  async submitLead(input: LeadIntakeInput, submit: SubmitOptions): Promise<LeadReceipt> {
    checkStorable('the submission is not valid', { actor: submit.actor, idempotencyKey: submit.idempotencyKey });
    const intake = this.checkedIntake(input);
    // One budget for the whole submission: time spent waiting on PostgreSQL is not given to Temporal again.
    const deadline = this.requestDeadline();
    return this.admitted(async () => {
      const submission = await this.submission(intake, submit, deadline);
      // Accepted earlier with another intake and still queued: the key is taken, as it would be once started. Else
      // the key is taken here, before the start: an asynchronous submission racing this one under another intake
      // must not be queued and answered 202, only to lose to this intake when forwarded. (Queue unreachable: the
      // asynchronous path cannot queue either, and Temporal arbitrates both.)
      const reserved = await this.options.intakeQueue?.reserve(submission);
      if (reserved === 'conflict') throw new IdempotencyConflictError(submission.leadId);
      return this.recordSubmission(submission, deadline);
    });
  }

  /**
   * Accepts a lead and answers before its intake is recorded: `{ accepted: true }` once it is durably queued (with an
   * intake queue; a forwarder starts its workflow, retrying while Temporal is away), or else once Temporal has
   * started its workflow, which records the intake from its start input. Nothing is lost once this resolves; read
   * the lead to see it received. A lead already started (the same key again) gets what `submitLead` answers: its
   * receipt, or IdempotencyConflictError for a different intake.
   */
  async acceptLead(input: LeadIntakeInput, submit: SubmitOptions): Promise<LeadAcceptance> {
    checkStorable('the submission is not valid', { actor: submit.actor, idempotencyKey: submit.idempotencyKey });
    const intake = this.checkedIntake(input);
    const deadline = this.requestDeadline();
    return this.admitted(async () => {
      const submission = await this.submission(intake, submit, deadline);
      const { leadId, workflowId } = submission;
      const { input } = submission;
      let queued: Awaited<ReturnType<LeadIntakeQueue['enqueue']>>;
      try {
        queued =
          (await this.options.intakeQueue?.enqueue({
            leadId,
            intakeDigest: submission.intakeDigest,
            intake: input.intake,
            submittedBy: input.submittedBy,
          })) ?? 'unavailable';
      } catch (error) {
        throw databaseFailure(error, 'the intake queue cannot be reached');
      }
      if (queued === 'queued') return { accepted: true, leadId, workflowId };
      if (queued === 'conflict') throw new IdempotencyConflictError(leadId);
      // No queue here, or PostgreSQL away: Temporal holds the lead, and the workflow records it once PostgreSQL is back.
      if (queued === 'unavailable' && (await this.startIfNew(submission, deadline)))
        return { accepted: true, leadId, workflowId };
      return { accepted: false, ...(await this.recordSubmission(submission, deadline)) };
    });
  }

  /** Starts the lead's workflow; false when it already exists (or existed: a finished lead keeps its id). */
  private async startIfNew(submission: Submission, deadline = this.requestDeadline()): Promise<boolean> {
    this.checkTimeLeft(deadline);
    const mayHaveReached = this.sent.begin();
    try {
      await this.withDeadline(
        () =>
          this.options.temporal.workflow.start(LEAD_WORKFLOW_TYPE, {
            ...submission.start,
            workflowIdConflictPolicy: 'FAIL',
          }),
        deadline,
      );
      return true;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return false;
      if (mayHaveReached(error)) throw this.unknownSubmission(submission);
      throw this.translate(error, submission.leadId);
    }
  }

  /**
   * Starts the workflow of a queued lead (the intake forwarder's call). `started`: Temporal holds it, whether this
   * call or an earlier one started it; `conflict`: its key already names a lead with another intake. Throws what
   * Temporal answered otherwise (UnavailableError while it cannot be reached): the lead stays queued.
   */
  async startQueuedLead(lead: QueuedLead): Promise<'started' | 'conflict'> {
    const submission = this.startOf(lead.leadId, lead.intake, lead.submittedBy, lead.intakeDigest);
    // One budget for both calls: the forwarder's lease on the lead must outlast the forward.
    const deadline = this.requestDeadline();
    if (await this.startIfNew(submission, deadline)) return 'started';
    try {
      await this.recordSubmission(submission, deadline);
      return 'started';
    } catch (error) {
      if (error instanceof IdempotencyConflictError) return 'conflict';
      throw error;
    }
  }

  private checkedIntake(input: LeadIntakeInput): LeadIntake {
    const parsed = LeadIntake.safeParse(input);
    if (!parsed.success) throw new InvalidInputError('the lead intake is not valid', issuesOf(parsed.error));
    return parsed.data;
  }

  private async admitted<T>(work: () => Promise<T>): Promise<T> {
    const limit = this.options.maxSubmissionsInFlight ?? DEFAULT_MAX_SUBMISSIONS_IN_FLIGHT;
    // Past this the server is behind: answering "retry shortly" now beats answering "unavailable" in 15 s.
    if (this.submissionsInFlight >= limit) throw new OverloadedError(limit);
    this.submissionsInFlight++;
    try {
      return await work();
    } finally {
      this.submissionsInFlight--;
    }
  }

  /** The lead's id (from the caller's key, if any) and the workflow start that carries its intake. */
  private async submission(intake: LeadIntake, submit: SubmitOptions, deadline: number): Promise<Submission> {
    const key =
      submit.idempotencyKey ?? (intake.externalReference ? `${intake.source}:${intake.externalReference}` : undefined);
    const leadId = key === undefined ? randomUUID() : await this.leadIdFor(key, deadline);
    return this.startOf(leadId, intake, { actor: submit.actor, commandId: key ?? leadId }, digestOf(intake));
  }

  /** The keyed id, unless Leadline 1.0.0 started (or queued) the lead under the id it gave the key. */
  private async leadIdFor(key: string, deadline: number): Promise<string> {
    const keyed = leadIdForKey(key, this.options.leadIdKey);
    const lookup = this.options.legacyLeadIds;
    if (lookup === undefined) return keyed;
    const legacy = legacyLeadIdForKey(key);
    try {
      if (await lookup.holds(legacy)) return legacy;
    } catch (error) {
      // PostgreSQL away: Temporal, asked next, knows every lead 1.0.0 started. Anything else is not guessed past.
      if (!isDatabaseUnavailable(error)) throw databaseFailure(error, 'the lead store cannot be read');
    }
    // Started but not in PostgreSQL (yet): a 1.0.0 submission whose answer was lost, or one taken while PostgreSQL was
    // away. A closed lead past Temporal's retention is in the read model, asked above.
    this.checkTimeLeft(deadline);
    try {
      await this.withDeadline(
        () => this.options.temporal.workflow.getHandle(leadWorkflowId(legacy)).describe(),
        deadline,
      );
      return legacy;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return keyed;
      // Temporal away: the lead is still taken (queued) under the new id, as any lead is while Temporal is away. Only a
      // 1.0.0 lead started in Temporal, in no table yet, and sent again during this outage could then become two.
      const code = grpcCodeOf(error);
      if (code === 14 || code === 4) return keyed; // UNAVAILABLE, DEADLINE_EXCEEDED
      throw this.translate(error, legacy);
    }
  }

  private startOf(
    leadId: string,
    intake: LeadIntake,
    submittedBy: { actor: string; commandId: string },
    intakeDigest: string,
  ): Submission {
    const workflowId = leadWorkflowId(leadId);
    const input: LeadWorkflowInput & { intake: LeadIntake; submittedBy: typeof submittedBy } = {
      leadId,
      policy: this.options.policy,
      intake,
      submittedBy,
      intakeDigest,
    };
    const start = {
      workflowId,
      taskQueue: this.options.taskQueue,
      args: [input] as [LeadWorkflowInput],
      // A finished lead keeps its id: a late duplicate must not start it again.
      workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
      workflowTaskTimeout: (this.options.workflowTaskTimeoutSeconds ?? DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS) * 1000,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: leadSearchAttributes.status, value: 'received' },
        { key: leadSearchAttributes.source, value: intake.source },
      ]),
    };
    return { leadId, workflowId, intakeDigest, input, start };
  }

  private async recordSubmission(submission: Submission, deadline = this.requestDeadline()): Promise<LeadReceipt> {
    const { leadId, workflowId, intakeDigest } = submission;
    const startWorkflowOperation = new WithStartWorkflowOperation(LEAD_WORKFLOW_TYPE, {
      ...submission.start,
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    this.checkTimeLeft(deadline);
    const mayHaveReached = this.sent.begin();
    try {
      const receipt = await this.withDeadline(
        () =>
          this.options.temporal.workflow.executeUpdateWithStart(leadReceivedUpdate, {
            updateId: `submit-${leadId}`,
            startWorkflowOperation,
          }),
        deadline,
      );
      if (receipt.intakeDigest !== undefined && receipt.intakeDigest !== intakeDigest) {
        throw new IdempotencyConflictError(leadId);
      }
      return { leadId: receipt.leadId, workflowId: receipt.workflowId, receivedAt: receipt.receivedAt };
    } catch (error) {
      if (error instanceof IdempotencyConflictError) throw error;
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        const finished = await this.options.readModel.getLead(leadId);
        if (finished !== undefined) {
          return { leadId, workflowId, receivedAt: finished.summary.receivedAt };
        }
      }
      if (mayHaveReached(error)) throw this.unknownSubmission(submission);
      throw this.translate(error, leadId);
    }
  }

  /** Sends one command; resolves with the lead's snapshot once its events are durably recorded. */
  async command<T extends ExternalCommandType>(
    leadId: string,
    type: T,
    data: CommandRequest<T>['data'],
    metadata: CommandBy,
    deadline = this.requestDeadline(),
  ): Promise<LeadSnapshot> {
    this.checkLeadId(leadId);
    checkStorable(`${type} is not valid`, { actor: metadata.actor, commandId: metadata.commandId });
    const parsed = { data: this.checkedCommand(type, data) };
    const commandId = metadata.commandId ?? randomUUID();
    const handle = this.options.temporal.workflow.getHandle(leadWorkflowId(leadId));
    const update = leadCommandUpdates[type] as unknown as UpdateDefinition<LeadSnapshot, [CommandRequest]>;
    this.checkTimeLeft(deadline);
    const mayHaveReached = this.sent.begin();
    try {
      return await this.withDeadline(
        () =>
          handle.executeUpdate(update, {
            args: [{ data: parsed.data, metadata: { actor: metadata.actor, commandId } }],
            // Temporal answers an update id it has seen with that update's result, never asking the lead: the id
            // carries the request's digest, so only a true retry is answered so, and a reuse reaches the lead's rule.
            // Hashed: update ids are shown in clear in Temporal's history, and a caller's commandId may be a reference.
            updateId: createHash('sha256')
              .update(`${commandId}:${commandDigest({ type, data: parsed.data })}`)
              .digest('hex'),
          }),
        deadline,
      );
    } catch (error) {
      const translated = mayHaveReached(error)
        ? new OutcomeUnknownError('command', leadId, commandId, true)
        : await this.translateCommandError(error, leadId, type, commandId);
      if (this.options.onCommandRefused !== undefined && !(translated instanceof LeadNotFoundError)) {
        // Unknown: it may have been recorded, and its own audit row with it; the attempt is logged as failed.
        const refused =
          translated instanceof CommandRejectedError ||
          translated instanceof InvalidInputError ||
          translated instanceof CommandIdConflictError;
        await this.options
          .onCommandRefused({
            actor: metadata.actor,
            leadId,
            command: type,
            outcome: refused ? 'refused' : 'failed',
            reason: translated.name,
          })
          .catch(() => undefined);
      }
      throw translated;
    }
  }

  /**
   * A command's data as its schema reads it, or InvalidInputError naming each field: the zod schema's issues, and an
   * office the directory does not hold. Callers that check before they check anything else (who may send it) ask here.
   */
  checkedCommand<T extends ExternalCommandType>(type: T, data: CommandRequest<T>['data']) {
    const parsed = commandData[type].safeParse(data);
    if (!parsed.success) throw new InvalidInputError(`${type} is not valid`, issuesOf(parsed.error));
    const { offices } = this.options;
    const office = (parsed.data as { office?: unknown }).office;
    if (offices !== undefined && typeof office === 'string' && !offices.includes(office)) {
      // An office id is the agency's own name for a place, never a victim's data: naming it back is what helps.
      throw new InvalidInputError(`${type} is not valid`, [
        { path: 'data.office', message: `office ${office} is not in the office directory` },
      ]);
    }
    return parsed.data;
  }

  // One method per command, each a typed shorthand for `command`.
  /** A supervisor's validation outcome, overriding the automatic check. */
  validateLead(leadId: string, data: CommandRequest<'ValidateLead'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'ValidateLead', data, by);
  }
  /** Assigns a validated lead to an office (and optionally an agent). */
  assignLead(leadId: string, data: CommandRequest<'AssignLead'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'AssignLead', data, by);
  }
  reassignLead(leadId: string, data: CommandRequest<'ReassignLead'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'ReassignLead', data, by);
  }
  requestInterview(
    leadId: string,
    data: CommandRequest<'RequestInterview'>['data'],
    by: CommandBy,
  ): Promise<LeadSnapshot> {
    return this.command(leadId, 'RequestInterview', data, by);
  }
  rescheduleInterview(
    leadId: string,
    data: CommandRequest<'RescheduleInterview'>['data'],
    by: CommandBy,
  ): Promise<LeadSnapshot> {
    return this.command(leadId, 'RescheduleInterview', data, by);
  }
  completeInterview(
    leadId: string,
    data: CommandRequest<'CompleteInterview'>['data'],
    by: CommandBy,
  ): Promise<LeadSnapshot> {
    return this.command(leadId, 'CompleteInterview', data, by);
  }
  openCase(leadId: string, data: CommandRequest<'OpenCase'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'OpenCase', data, by);
  }
  closeLead(leadId: string, data: CommandRequest<'CloseLead'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'CloseLead', data, by);
  }
  /** Stops the stage clock, e.g. while a victim is stabilised; the justification is recorded. */
  pauseSla(leadId: string, data: CommandRequest<'PauseSla'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'PauseSla', data, by);
  }
  resumeSla(leadId: string, data: CommandRequest<'ResumeSla'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'ResumeSla', data, by);
  }
  /** Holds the escalation ladder for the re-escalation interval. */
  acknowledgeEscalation(
    leadId: string,
    data: CommandRequest<'AcknowledgeEscalation'>['data'],
    by: CommandBy,
  ): Promise<LeadSnapshot> {
    return this.command(leadId, 'AcknowledgeEscalation', data, by);
  }
  changePriority(leadId: string, data: CommandRequest<'ChangePriority'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'ChangePriority', data, by);
  }
  addNote(leadId: string, data: CommandRequest<'AddNote'>['data'], by: CommandBy): Promise<LeadSnapshot> {
    return this.command(leadId, 'AddNote', data, by);
  }

  /** Live state for an open lead; the read model for one whose workflow has finished. */
  async getLead(leadId: string): Promise<LeadView> {
    this.checkLeadId(leadId);
    const handle = this.options.temporal.workflow.getHandle(leadWorkflowId(leadId));
    let running = false;
    try {
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') {
        running = true;
        const snapshot = await handle.query(leadStateQuery);
        if (snapshot !== null) {
          return {
            leadId,
            from: 'workflow',
            state: snapshot.state,
            stageDeadline: snapshot.stageDeadline,
            // The workflow's own answer: it times the ladder by the policy the lead started with.
            nextRung: rungOf(snapshot.nextSlaAction),
            stageBudgetMs: currentStageBudgetMs(snapshot.state.sla),
            allowedCommands: snapshot.allowedCommands,
          };
        }
      }
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw this.translate(error, leadId);
    }
    const stored = await this.readModel(() => this.options.readModel.getLead(leadId));
    if (stored === undefined) {
      // Accepted (202) but not recorded yet: its workflow is starting, or it waits in the intake queue.
      if (running || (await this.options.intakeQueue?.waiting(leadId)) !== undefined) {
        throw new LeadPendingError(leadId);
      }
      throw new LeadNotFoundError(leadId);
    }
    return {
      leadId,
      from: 'read_model',
      state: stored.state,
      stageDeadline: stored.summary.stageDeadline,
      nextRung: nextRung(stored.state.sla, this.options.policy),
      stageBudgetMs: currentStageBudgetMs(stored.state.sla),
      allowedCommands: [],
    };
  }

  /**
   * `offices`: only leads of these offices (a caller's scope); unset: every lead. `subject`: the caller `mine` means.
   * Each lead comes with the next rung of its ladder, computed from its row (no call to Temporal per lead): the
   * stage's clock with the budget it started with, and this client's policy's fractions.
   */
  async listLeads(
    filter: LeadListFilter = {},
    offices?: readonly string[],
    subject?: string,
  ): Promise<{ items: LeadListItem[]; nextCursor: string | null }> {
    const parsed = LeadListFilter.safeParse(filter);
    if (!parsed.success) throw new InvalidInputError('the list filter is not valid', issuesOf(parsed.error));
    if (parsed.data.mine !== undefined && subject === undefined) {
      throw new InvalidInputError('the list filter is not valid', [
        { path: 'mine', message: 'needs a signed-in caller, whose leads it means' },
      ]);
    }
    return this.readModel(async () => {
      try {
        const page = await this.options.readModel.listLeads(parsed.data, offices, subject);
        return {
          nextCursor: page.nextCursor,
          items: page.items.map(({ sla, ...summary }) => ({
            ...summary,
            nextRung: nextRung(sla, this.options.policy),
            stageBudgetMs: currentStageBudgetMs(sla),
          })),
        };
      } catch (error) {
        // The read model refuses a cursor it did not issue with a RangeError: the caller's mistake, not an outage.
        if (error instanceof RangeError) {
          throw new InvalidInputError('the list filter is not valid', [{ path: 'cursor', message: error.message }]);
        }
        throw error;
      }
    });
  }

  /** The lead's events without personal data. */
  async timeline(leadId: string): Promise<TimelineEntry[]> {
    this.checkLeadId(leadId);
    const stored = await this.readModel(() => this.options.readModel.timeline(leadId));
    if (stored !== undefined) return stored;
    try {
      return await this.options.temporal.workflow.getHandle(leadWorkflowId(leadId)).query(leadTimelineQuery);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new LeadNotFoundError(leadId);
      throw this.translate(error, leadId);
    }
  }

  /** A submission sent to Temporal whose answer was lost: a retry with its key finds the same lead. */
  private unknownSubmission(submission: Submission): OutcomeUnknownError {
    // The commandId of a submission is its key, or the lead id when the caller gave none (a random lead).
    const keyed = submission.input.submittedBy.commandId !== submission.leadId;
    return new OutcomeUnknownError('submission', submission.leadId, undefined, keyed);
  }

  /** Retrying after a deadline is safe: submissions and commands carry idempotency keys. */
  private withDeadline<T>(call: () => Promise<T>, deadline = this.requestDeadline()): Promise<T> {
    return this.options.temporal.withDeadline(deadline, call);
  }

  /**
   * When a request begun now must have its answer (`requestTimeoutMs`, 15 s by default), in ms since the epoch: what
   * it spends before reaching Temporal (an access check, the intake queue) comes out of the same budget.
   */
  requestDeadline(): number {
    return Date.now() + (this.options.requestTimeoutMs ?? 15_000);
  }

  /**
   * A request whose budget went on PostgreSQL is not sent to Temporal at all: 503, nothing was done. Sent with almost
   * no time left, it would fail on its deadline and be answered "outcome unknown" for a call that may never have left.
   */
  private checkTimeLeft(deadline: number) {
    if (deadline - Date.now() >= MIN_TIME_FOR_TEMPORAL_MS) return;
    throw new UnavailableError(
      'the request ran out of time before it reached Temporal (PostgreSQL was slow to answer)',
    );
  }

  private checkLeadId(leadId: string) {
    if (!LeadId.safeParse(leadId).success) {
      throw new InvalidInputError('the lead id is not valid', [{ path: 'leadId', message: 'must be a uuid' }]);
    }
  }

  private async readModel<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof InvalidInputError) throw error;
      throw databaseFailure(error, 'the read model cannot be reached');
    }
  }

  private async translateCommandError(error: unknown, leadId: string, type: string, commandId: string): Promise<Error> {
    if (error instanceof WorkflowUpdateFailedError) {
      const cause = error.cause;
      if (cause instanceof ApplicationFailure) {
        const detail = (cause.details?.[0] ?? {}) as {
          code?: string;
          status?: string | null;
          allowed?: string[];
          issues?: string[];
          rules?: { rule: string; satisfiedBy: string }[];
          /** A safety rule's refusal: its full message rides in the (encrypted) details, not the failure's message. */
          message?: string;
        };
        if (cause.type === 'InvalidCommand') {
          throw new InvalidInputError(
            cause.message,
            (detail.issues ?? []).map((m) => ({ path: 'data', message: m })),
          );
        }
        if (cause.type === 'LeadRuleViolation' && detail.code === 'command_id_reused') {
          return new CommandIdConflictError(leadId);
        }
        if (cause.type === 'LeadRuleViolation') {
          return new CommandRejectedError(
            detail.message ?? cause.message,
            detail.status ?? null,
            (detail.allowed ?? []) as never,
            detail.rules ?? [],
          );
        }
      }
      // Not the lead's refusal: the update was accepted and its handler did not finish (the run was terminated or
      // failed after it began). Its append may already be in the log, so "nothing was done" would not be true.
      return new OutcomeUnknownError('command', leadId, commandId, true);
    }
    if (error instanceof WorkflowNotFoundError || isNotFound(error)) {
      const stored = await this.readModel(() => this.options.readModel.getLead(leadId));
      if (stored === undefined) return new LeadNotFoundError(leadId);
      // The run ended while this update waited, maybe after recording it (a command that closed the lead): never
      // "not allowed" for a command the log holds.
      if (stored.state.recentCommandIds.includes(commandId)) {
        return new OutcomeUnknownError('command', leadId, commandId, true);
      }
      return new CommandRejectedError(
        `${type} is not allowed while the lead is ${stored.summary.status}; allowed: none (the lead is finished)`,
        stored.summary.status,
        [],
      );
    }
    return this.translate(error, leadId);
  }

  private translate(error: unknown, leadId: string): Error {
    if (error instanceof InvalidInputError || error instanceof LeadNotFoundError) return error;
    if (error instanceof WorkflowNotFoundError) return new LeadNotFoundError(leadId);
    return new UnavailableError(`Temporal did not accept the request: ${(error as Error).message ?? String(error)}`);
  }
}

/**
 * What a caller is told of a database failure. PostgreSQL's message and detail can quote the row, so only the
 * SQLSTATE, table and constraint are said; data it refused (class 22, 23) is the caller's mistake, not an outage.
 */
function databaseFailure(error: unknown, unavailable: string): Error {
  const said = formatDatabaseError(error);
  if (isDataError(error)) {
    return new InvalidInputError('the database refused the request', [
      { path: '(request)', message: `refused by PostgreSQL (${said ?? 'a data error'})` },
    ]);
  }
  if (said !== undefined) return new UnavailableError(`${unavailable} (${said})`);
  // Not PostgreSQL's own answer: a socket error or the like, whose name and code say enough.
  const code = (error as { code?: unknown } | null)?.code;
  const name = error instanceof Error ? error.name : typeof error;
  return new UnavailableError(`${unavailable} (${typeof code === 'string' ? `${name} ${code}` : name})`);
}

/** A stable digest of the parsed intake: key order does not matter, content does. */
function digestOf(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, canonical(x)]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex');
}

function isNotFound(error: unknown): boolean {
  // An update to a finished workflow answers NOT_FOUND ("workflow execution already completed").
  return isGrpcServiceError(error) && (error.code as number) === 5;
}
