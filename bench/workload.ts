import { randomBytes, randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type pg from 'pg';
import type { LeadClient } from '../client/lead-client';
import type { LeadIntakeInput } from '../schemas/intake';
import { sampleIntakeInputs } from '../test/support/lead-fixtures';
import { leadStateQuery, leadWorkflowId } from '../workflows/messages';
import {
  ASSIGNED_STAGE,
  BASELINE_TASK_QUEUE,
  BASELINE_WORKFLOW_TYPE,
  baselineNoteUpdate,
  baselineReceivedUpdate,
  baselineStageQuery,
  baselineStepUpdate,
  type ActivityKind,
  type BaselineShape,
  type baselineWorkflow,
} from './baseline-workflow';
import { sleep } from './stats';

/** Unique within a run, so idempotency keys (source + externalReference) never collide. */
export const runTag = randomBytes(3).toString('hex').toUpperCase();
let sequence = 0;
export const nextRef = (prefix: string) => `BENCH-${runTag}-${prefix}-${++sequence}`;

const fixtures = sampleIntakeInputs();
function fixture(name: string): LeadIntakeInput {
  const found = fixtures[name];
  if (found === undefined) throw new Error(`test/fixtures/leads has no ${name}.json`);
  return found;
}
/** US-NJ, US-TX and US-FL: routed automatically to an office. */
const routable = ['newark-interview-request', 'hhs-tipline-minor', 'ngo-farmworkers'].map(fixture);
/** US-MT: valid, but no office serves it, so it waits unassigned and climbs the ladder. */
const unrouted = fixture('public-unknown-jurisdiction');

export function routableIntake(prefix: string): LeadIntakeInput {
  const base = routable[sequence % routable.length] as LeadIntakeInput;
  return { ...base, externalReference: nextRef(prefix) };
}

export function unroutedIntake(prefix: string): LeadIntakeInput {
  return { ...unrouted, externalReference: nextRef(prefix) };
}

const ACTOR = { actor: 'svc:bench' };

export interface SubmitTally {
  failed: number;
  retries: number;
  firstErrors: string[];
  /** Set once too many submissions failed for good: the rest are not tried. */
  gaveUp: boolean;
}

export const newTally = (): SubmitTally => ({ failed: 0, retries: 0, firstErrors: [], gaveUp: false });

/**
 * Submits one intake, retrying an unavailable Temporal with backoff. The intake keeps its externalReference across
 * attempts, so a retry of a submission that did start the workflow finds the same lead rather than a second one.
 * Resolves with the lead id, or undefined once it failed for good.
 */
export async function submitWithRetry(
  leads: LeadClient,
  intake: LeadIntakeInput,
  tally: SubmitTally,
  maxFailed: number,
): Promise<string | undefined> {
  for (let attempt = 0; !tally.gaveUp; attempt++) {
    try {
      return (await leads.submitLead(intake, ACTOR)).leadId;
    } catch (error) {
      if (tally.firstErrors.length < 5) tally.firstErrors.push((error as Error).message.slice(0, 200));
      if (attempt >= 5) {
        tally.failed++;
        if (tally.failed > maxFailed) tally.gaveUp = true;
        return undefined;
      }
      tally.retries++;
      await sleep(1000 * 2 ** attempt);
    }
  }
  return undefined;
}

/**
 * Waits until the system has finished what earlier phases started: no lead still in `received`, and the number of
 * leads and of validated ones (unrouted leads stay validated) unchanged for two seconds.
 */
export async function waitForQuiet(pool: pg.Pool, timeoutMs = 600_000): Promise<number> {
  const t0 = performance.now();
  let previous = '';
  let stableSince = performance.now();
  for (;;) {
    const { rows } = await pool.query<{ total: number; received: number; validated: number }>(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE status = 'received')::int AS received,
              count(*) FILTER (WHERE status = 'validated')::int AS validated FROM leads`,
    );
    const now = JSON.stringify(rows[0]);
    if (now !== previous) stableSince = performance.now();
    previous = now;
    if ((rows[0]?.received ?? 1) === 0 && performance.now() - stableSince >= 2000) break;
    if (performance.now() - t0 > timeoutMs) throw new Error(`the system did not settle within ${timeoutMs} ms: ${now}`);
    await sleep(500);
  }
  return (performance.now() - t0) / 1000;
}

/** Polls the workflow's own state (the validator judges commands by it, not by the read model). */
export async function waitForStatus(temporal: Client, leadId: string, status: string, pollMs: number): Promise<number> {
  const handle = temporal.workflow.getHandle(leadWorkflowId(leadId));
  const deadline = Date.now() + 60_000;
  for (let polls = 1; ; polls++) {
    await sleep(pollMs);
    const snapshot = await handle.query(leadStateQuery);
    const now = snapshot?.state.status;
    if (now === status) return polls;
    if (now === 'closed' || now === 'case_opened') throw new Error(`lead ${leadId} is ${now}, not ${status}`);
    if (Date.now() > deadline) throw new Error(`lead ${leadId} stayed ${String(now)}, never ${status}`);
  }
}

export interface Lifecycle {
  name: string;
  /** One whole happy path; resolves with the lead's (or workflow's) id. */
  run(): Promise<string>;
  /** Something open and ready for `note`, e.g. an assigned lead. */
  prepareTarget(): Promise<string>;
  /** One command that changes nothing but takes one activity: AddNote, or its baseline twin. */
  note(target: string): Promise<void>;
  /** Queries sent so far while waiting for routing: each is a workflow activation the worker pays for. */
  polls(): number;
}

export interface LeadShape extends BaselineShape {
  updates: number;
  /** Activities by type; local ones (markers in the history) as `local:<type>`. */
  activities: Record<string, number>;
  /** What the lead's history holds, by event type: the work it costs Temporal's persistence. */
  history: HistoryCount;
}

export interface HistoryCount {
  events: number;
  bytes: number;
  byType: Record<string, number>;
}

/** Events in a finished workflow's history, by type, and their encoded size. */
export async function countHistory(temporal: Client, workflowId: string): Promise<HistoryCount> {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  const byType: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const code = event.eventType ?? 0;
    const type = String(proto.temporal.api.enums.v1.EventType[code] ?? code).replace(/^EVENT_TYPE_/, '');
    byType[type] = (byType[type] ?? 0) + 1;
  }
  const bytes = proto.temporal.api.history.v1.History.encode(history).finish().length;
  return { events: history.events?.length ?? 0, bytes, byType };
}

/** The activity type a local-activity marker records, when its details can be read (they are JSON unless encrypted). */
function localActivityType(
  details: { [key: string]: { payloads?: { data?: Uint8Array | null }[] | null } } | null | undefined,
) {
  try {
    const data = details?.data?.payloads?.[0]?.data;
    if (data)
      return String((JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type);
  } catch {
    // encrypted or another layout: the type is not needed to mirror it, only whether it is local
  }
  return 'unknown';
}

/**
 * What one lead's happy path does to Temporal, read off its history in order: updates accepted, and activities
 * scheduled (remote) or recorded as markers (local). Notices (activities named notify*) run beside the lead; the
 * rest before the first command make the chain to assignment, and those after belong to the command that ran them.
 */
export async function probeLeadShape(temporal: Client, lifecycle: Lifecycle): Promise<LeadShape> {
  const leadId = await lifecycle.run();
  const history = await temporal.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
  let updates = 0;
  let side = 0;
  const activities: Record<string, number> = {};
  const chain: ActivityKind[] = [];
  const commands: ActivityKind[][] = [];
  for (const event of history.events ?? []) {
    if (event.workflowExecutionUpdateAcceptedEventAttributes) {
      updates++;
      if (updates > 1) commands.push([]);
      continue;
    }
    const remote = event.activityTaskScheduledEventAttributes?.activityType?.name;
    const marker = event.markerRecordedEventAttributes;
    const local = marker?.markerName === 'core_local_activity' ? localActivityType(marker.details) : undefined;
    if (remote === undefined && local === undefined) continue;
    const name = remote ?? `local:${local}`;
    activities[name] = (activities[name] ?? 0) + 1;
    if (remote?.startsWith('notify')) side++;
    else (commands[commands.length - 1] ?? chain).push(remote === undefined ? 'local' : 'remote');
  }
  const counted = await countHistory(temporal, leadWorkflowId(leadId));
  return { updates, activities, chain, side, commands, history: counted };
}

/** submit → automatic validation and routing → RequestInterview → CompleteInterview → OpenCase. */
export function leadlineLifecycle(leads: LeadClient, temporal: Client, pollMs: number): Lifecycle {
  let polls = 0;
  const submitAssigned = async (prefix: string) => {
    const { leadId } = await leads.submitLead(routableIntake(prefix), ACTOR);
    const sent = await waitForStatus(temporal, leadId, 'assigned', pollMs);
    polls += sent; // not `polls += await …`, which would add to the count read before the wait
    return leadId;
  };
  return {
    name: 'leadline',
    async run() {
      const leadId = await submitAssigned('TP');
      await leads.command(
        leadId,
        'RequestInterview',
        {
          scheduledFor: '2026-12-02T15:00:00.000Z',
          place: 'Field office, interview room 1',
          // Some sample victims need an interpreter: the contact-safety rules refuse the request without one.
          interpreterLanguage: 'vi',
          victimSpecialist: true,
        },
        ACTOR,
      );
      await leads.command(leadId, 'CompleteInterview', { outcome: 'victim_identified' }, ACTOR);
      await leads.command(leadId, 'OpenCase', { caseNumber: `HSI-BENCH-${runTag}-${++sequence}` }, ACTOR);
      return leadId;
    },
    prepareTarget: () => submitAssigned('NOTE'),
    async note(leadId) {
      await leads.command(leadId, 'AddNote', { text: 'Benchmark note: partner called back.' }, ACTOR);
    },
    polls: () => polls,
  };
}

/** The same updates and activities as a lead (see probeLeadShape) on the minimal workflow of baseline-workflow.ts. */
export function baselineLifecycle(temporal: Client, shape: BaselineShape, pollMs: number): Lifecycle {
  let polls = 0;
  const start = async (keepOpen: boolean) => {
    const workflowId = `baseline-${randomUUID()}`;
    await temporal.workflow.executeUpdateWithStart(baselineReceivedUpdate, {
      updateId: `submit-${workflowId}`,
      startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>(BASELINE_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: BASELINE_TASK_QUEUE,
        args: [{ ...shape, keepOpen }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    const handle = temporal.workflow.getHandle(workflowId);
    for (;;) {
      await sleep(pollMs);
      polls++;
      if ((await handle.query(baselineStageQuery)) >= ASSIGNED_STAGE) return handle;
    }
  };
  return {
    name: 'baseline',
    async run() {
      const handle = await start(false);
      for (let i = 0; i < shape.commands.length; i++) {
        await handle.executeUpdate(baselineStepUpdate, { updateId: randomUUID() });
      }
      return handle.workflowId;
    },
    prepareTarget: async () => (await start(true)).workflowId,
    async note(workflowId) {
      await temporal.workflow.getHandle(workflowId).executeUpdate(baselineNoteUpdate, { updateId: randomUUID() });
    },
    polls: () => polls,
  };
}
