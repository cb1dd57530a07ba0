import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributePair } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import type pg from 'pg';
import { DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS } from '../activities/config';
import { createEventStore, recordAudit, type EventEnvelope } from '../activities/event-store';
import { projectLead } from '../activities/lead-activities';
import { type HealingNotifier } from '../activities/notifications/healing';
import { fold, stageDeadline, timelineEntry } from '../domain';
import type { LeadEvent } from '../schemas/events';
import type { LeadIntake } from '../schemas/intake';
import { LeadId, type LeadState } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';
import { isTerminal } from '../schemas/vocabulary';
import {
  LEAD_WORKFLOW_TYPE,
  leadSearchAttributes,
  leadWorkflowId,
  type LeadWorkflowInput,
} from '../workflows/messages';

/*
 * Healing: a lead that is open in its event log but whose workflow no longer runs (terminated, failed, timed out,
 * cancelled, or missing from Temporal altogether) is started again from the log. The reconciler
 * (worker/reconciler.ts) calls `recover` for every such lead it finds; `leadline recover <leadId>` calls it for one.
 *
 * The log is the truth: the new run carries `fold(events)` as its state and the log's timeline, exactly as a run that
 * continued as new would, so its clocks are the log's (same receivedAt, same deadlines) and a rung that fell due
 * while no workflow ran fires once, when the restarted run's SLA loop finds it due.
 *
 * Nothing here logs, prints or sends the intake: lines and notices carry the lead id, statuses, office and counts.
 */

/** What Temporal showed of the lead's workflow: an execution status (`TERMINATED`, `FAILED`, ...) or `missing`. */
export type WorkflowWas = string;

export type RecoverResult =
  | { outcome: 'running'; leadId: string }
  /** No events in the log: nothing to restart from (an unknown lead, or one still in the intake queue). */
  | { outcome: 'unknown'; leadId: string; workflowWas: WorkflowWas }
  /** The log says the lead is finished: its workflow ended as it should. */
  | { outcome: 'finished'; leadId: string; workflowWas: WorkflowWas; status: string; version: number }
  | {
      outcome: 'restarted';
      leadId: string;
      workflowWas: WorkflowWas;
      status: string;
      version: number;
      runId: string;
      policyVersion: string;
      /** The lead's intake checks had not finished; the new run was given the intake to finish them. */
      withIntake: boolean;
    };

export type HealingLog = (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;

/** A Prometheus counter as the SDK's metric meter makes it. */
export interface HealedCounter {
  add(value: number, tags?: Record<string, string>): void;
}

export interface HealerDeps {
  pool: pg.Pool;
  /** A client that encrypts payloads as the worker does: the restarted run's input holds the state (and maybe the intake). */
  client: Client;
  /** Where the restarted workflow runs. */
  taskQueue: string;
  /** The restarted run's workflow-task timeout (LEADLINE_WORKFLOW_TASK_TIMEOUT). Default DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS. */
  workflowTaskTimeoutSeconds?: number;
  /** The policy for a lead whose previous run's input cannot be read (Temporal lost it); otherwise the lead keeps its own. */
  policy: SlaPolicy;
  /** Tells HQ of each healing. */
  notifier: HealingNotifier;
  /** `leadline_leads_healed`; unset where no /metrics is served (the CLI). */
  counter?: HealedCounter;
  log: HealingLog;
  /** Who the audit log names: `system:reconciler`, or the person behind the CLI. */
  actor: string;
  /** A Temporal call that takes longer fails this recovery (the reconciler tries again on its next pass). */
  callTimeoutMs?: number;
}

export interface Healer {
  /** Sends again the healing notices a channel left pending; how many went out now. */
  resendNotices(): Promise<number>;
  /**
   * Restarts the lead's workflow from its log if it is not running. `audit: 'always'` writes an audit row whatever
   * was found (a person asked); otherwise only a restart is audited.
   */
  recover(leadId: string, options?: { audit?: 'always' | 'restarts' }): Promise<RecoverResult>;
}

/** How often a notice HQ could not be sent is tried again before the healing gives up on it (the row stays pending). */
const NOTICE_ATTEMPTS = 3;

export function createHealer(deps: HealerDeps): Healer {
  const store = createEventStore(deps.pool, projectLead);
  const timeoutMs = deps.callTimeoutMs ?? 10_000;
  const withTimeout = <T>(call: () => Promise<T>) => deps.client.withDeadline(Date.now() + timeoutMs, call);

  async function recover(leadId: string, options: { audit?: 'always' | 'restarts' } = {}): Promise<RecoverResult> {
    // The value is not echoed: a caller's mistake could have put anything in it.
    if (!LeadId.safeParse(leadId).success) throw new TypeError('the lead id is not a UUID');
    const workflowId = leadWorkflowId(leadId);
    const handle = deps.client.workflow.getHandle(workflowId);

    let workflowWas: WorkflowWas = 'missing';
    let previousRunId: string | undefined;
    try {
      const description = await withTimeout(() => handle.describe());
      if (description.status.name === 'RUNNING') return { outcome: 'running', leadId };
      workflowWas = description.status.name;
      previousRunId = description.runId;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }

    const events = await store.readEvents(leadId);
    const audit = async (outcome: string, detail: Record<string, unknown>) => {
      // Folding reads every event, the intake's too: the audit says who did it.
      await recordAudit(deps.pool, { actor: deps.actor, leadId, action: 'RecoverLead', outcome, detail });
    };
    if (events.length === 0) {
      if (options.audit === 'always') await audit('no-events', { workflowWas });
      return { outcome: 'unknown', leadId, workflowWas };
    }
    const state = fold(events as unknown as LeadEvent[]);
    if (state === undefined) throw new Error(`lead ${leadId}: its log folds to no state`);
    if (isTerminal(state.status)) {
      if (options.audit === 'always') await audit('finished', { workflowWas, status: state.status });
      return { outcome: 'finished', leadId, workflowWas, status: state.status, version: state.version };
    }

    const previous = previousRunId === undefined ? undefined : await previousInput(workflowId, previousRunId, leadId);
    const policy = previous?.policy ?? deps.policy;
    const intakeDigest =
      previous?.intakeDigest ?? previous?.carried?.intakeDigest ?? (await queuedIntakeDigest(deps.pool, leadId));
    // A lead whose checks had not finished gets its intake back, so the run can finish validating and routing it.
    const intake = intakeChecksPending(state) ? intakeOf(events) : undefined;
    const input: LeadWorkflowInput = {
      leadId,
      policy,
      ...(intake === undefined ? {} : { intake }),
      carried: {
        state,
        timeline: events.map((event, i) => timelineEntry(i + 1, event as unknown as LeadEvent)),
        ...(intakeDigest === undefined ? {} : { intakeDigest }),
      },
    };

    let runId: string;
    try {
      const started = await withTimeout(() =>
        deps.client.workflow.start(LEAD_WORKFLOW_TYPE, {
          workflowId,
          taskQueue: deps.taskQueue,
          args: [input],
          // The old run is closed, so the id may be used again; a running workflow is never touched: if another
          // healer (a second reconciler, `leadline recover`) started it first, this start fails and changes nothing.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
          workflowTaskTimeout: (deps.workflowTaskTimeoutSeconds ?? DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS) * 1000,
          typedSearchAttributes: new TypedSearchAttributes(searchAttributesOf(state)),
        }),
      );
      runId = started.firstExecutionRunId;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'running', leadId };
      throw error;
    }

    const result: RecoverResult = {
      outcome: 'restarted',
      leadId,
      workflowWas,
      status: state.status,
      version: state.version,
      runId,
      policyVersion: policy.version,
      withIntake: intake !== undefined,
    };
    await raiseAlarm(result, state);
    return result;
  }

  /** Every healing is an alarm: a log line, the counter, an audit row and a notice to HQ. */
  async function raiseAlarm(result: Extract<RecoverResult, { outcome: 'restarted' }>, state: LeadState) {
    const { leadId, workflowWas, version, status, runId, policyVersion, withIntake } = result;
    const fields = { leadId, workflowWas, version, status, office: state.office, runId, policyVersion, withIntake };
    deps.log('warn', 'lead restarted from its event log: its workflow was not running', fields);
    deps.counter?.add(1, { workflow_was: workflowWas });
    await recordAudit(deps.pool, {
      actor: deps.actor,
      leadId,
      action: 'RecoverLead',
      outcome: 'restarted',
      detail: { workflowWas, version, status, runId, policyVersion, withIntake },
    });
    const notice = {
      healingId: runId,
      leadId,
      office: state.office,
      status,
      stage: state.sla.stage,
      deadline: stageDeadline(state.sla),
      level: state.sla.level,
      priority: state.priority,
      workflowWas,
      version,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.notifier.notify(notice);
        return;
      } catch (error) {
        if (attempt >= NOTICE_ATTEMPTS) {
          // The lead runs again either way; the notice's row stays pending in `notifications` with its last error.
          deps.log('error', 'HQ was not told of a healed lead', { leadId, runId, error: errorName(error) });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  /**
   * The input of the lead's last run (the first event of its history), for the policy the lead started with and
   * its intake digest. Unreadable (a history gone, another payload key): the caller falls back.
   */
  async function previousInput(
    workflowId: string,
    runId: string,
    leadId: string,
  ): Promise<LeadWorkflowInput | undefined> {
    try {
      const page = await withTimeout(() =>
        deps.client.workflowService.getWorkflowExecutionHistory({
          namespace: deps.client.options.namespace,
          execution: { workflowId, runId },
          maximumPageSize: 1,
        }),
      );
      const payloads = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
      if (payloads === undefined || payloads === null) return undefined;
      return await decodeFromPayloadsAtIndex<LeadWorkflowInput>(deps.client.options.loadedDataConverter, 0, payloads);
    } catch (error) {
      deps.log('warn', "the lead's previous run input cannot be read: it restarts on the configured SLA policy", {
        leadId,
        error: errorName(error),
      });
      return undefined;
    }
  }

  return { recover, resendNotices: () => deps.notifier.resendPending(deps.pool) };
}

/** Validation or routing had not finished: the run that was lost held the intake for them, the restarted one needs it. */
function intakeChecksPending(state: LeadState): boolean {
  return state.status === 'received' || state.status === 'validated';
}

function intakeOf(events: EventEnvelope[]): LeadIntake | undefined {
  const received = events.find((event) => event.type === 'LeadReceived');
  return (received?.data as { intake?: LeadIntake } | undefined)?.intake;
}

/** The digest the submission recorded beside the lead's key (a conflict row's digest is another intake's). */
async function queuedIntakeDigest(pool: pg.Pool, leadId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ intake_digest: string }>(
    `SELECT intake_digest FROM lead_intake_queue WHERE lead_id = $1 AND outcome IN ('started', 'direct')`,
    [leadId],
  );
  return rows[0]?.intake_digest;
}

/** What the client sets at a lead's start, so the list sees the lead at once; the run publishes the rest itself. */
function searchAttributesOf(state: LeadState): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: leadSearchAttributes.status, value: state.status },
    { key: leadSearchAttributes.priority, value: state.priority },
    { key: leadSearchAttributes.source, value: state.source },
    { key: leadSearchAttributes.escalationLevel, value: state.sla.level },
  ];
  if (state.office !== null) pairs.push({ key: leadSearchAttributes.office, value: state.office });
  return pairs;
}

/** An error's kind for a log line: its name and, for a database error, its SQLSTATE; never its message, which can quote data. */
export function errorName(error: unknown): string {
  if (!(error instanceof Error)) return 'non-error thrown';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? `${error.name} (${code})` : error.name;
}
