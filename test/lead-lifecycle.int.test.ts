import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fold } from '../domain';
import { stageBudgetMs } from '../domain/sla';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import type { LeadEvent } from '../schemas/events';
import { leadCommandUpdates, leadStateQuery, leadWorkflowId } from '../workflows/messages';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { waitFor } from './support/wait';
import { createLogAdapter } from '../activities/notifications/log';
import type { NotificationAdapter } from '../activities/notifications/types';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { createEventStore } from '../activities/event-store';
import { projectLead } from '../activities/lead-activities';
import { fieldCryptoFor, isSealed, openState, sealState } from '../activities/field-crypto';

let env: TestWorkflowEnvironment;
let stack: TestStack;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

describe('one lead, intake to opened case, on a real Temporal dev server and PostgreSQL', () => {
  it('lives its whole life, and the workflow, the event log and the read model agree', async () => {
    const intake = sampleIntakeInputs()['newark-interview-request']!;
    {
      const receipt = await stack.client.submitLead(intake, { actor: 'svc:intake-gateway' });
      expect(receipt.workflowId).toBe(leadWorkflowId(receipt.leadId));
      const { leadId } = receipt;

      // Validation and routing are automatic: US-NJ routes to Newark.
      await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned');
      const actor = { actor: 'agent:rivera' };
      await stack.client.requestInterview(
        leadId,
        {
          scheduledFor: '2026-12-02T15:00:00.000Z',
          place: 'Newark field office',
          interpreterLanguage: 'vi',
          victimSpecialist: true,
        },
        actor,
      );
      await stack.client.completeInterview(leadId, { outcome: 'victim_identified' }, actor);
      const opened = await stack.client.openCase(
        leadId,
        { caseNumber: 'HSI-NWK-2026-0042' },
        { actor: 'supervisor:okafor' },
      );
      expect(opened.state.status).toBe('case_opened');

      const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
      const final = await handle.result();
      expect(final.state.status).toBe('case_opened');
      expect(final.state.office).toBe('HSI-NEWARK');
      expect(final.state.caseNumber).toBe('HSI-NWK-2026-0042');

      const { rows: events } = await stack.db.pool.query<{
        seq: number;
        event_id: string;
        type: string;
        data: unknown;
        metadata: LeadEvent['metadata'];
      }>('SELECT seq, event_id, type, data, metadata FROM lead_events WHERE lead_id = $1 ORDER BY seq', [leadId]);
      expect(events.map((e) => e.type)).toEqual([
        'LeadReceived',
        'LeadValidated',
        'LeadAssigned',
        'InterviewRequested',
        'InterviewCompleted',
        'CaseOpened',
      ]);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length);

      // At rest the intake and the submission's command id are sealed; the store's read opens them for the fold.
      const received = events[0] as { data: { intake: unknown }; metadata: { commandId: unknown } };
      expect(isSealed(received.data.intake)).toBe(true);
      expect(isSealed(received.metadata.commandId)).toBe(true);
      const logged = await createEventStore(stack.db.pool, projectLead).readEvents(leadId);
      expect(logged.map((e) => e.eventId)).toEqual(events.map((e) => e.event_id));
      const folded = fold(logged as unknown as LeadEvent[]);
      expect(folded).toEqual(final.state);

      const { rows: leads } = await stack.db.pool.query(
        'SELECT status, office, case_number, version, escalation_level, state FROM leads WHERE lead_id = $1',
        [leadId],
      );
      expect(leads).toHaveLength(1);
      expect(leads[0]).toMatchObject({
        status: 'case_opened',
        office: 'HSI-NEWARK',
        case_number: 'HSI-NWK-2026-0042',
        version: 6,
        escalation_level: 0,
      });
      // The read model's state is the workflow's, less what points at people: command ids as keyed digests, the
      // interpreter language sealed, no request digests.
      const crypto = fieldCryptoFor(stack.db.pool);
      expect(openState(crypto, leadId, leads[0].state)).toEqual(
        openState(crypto, leadId, sealState(crypto, leadId, final.state, 'all').state),
      );
      expect(JSON.stringify(leads[0].state)).not.toContain(final.state.recentCommandIds[0]);

      // Temporal's history (what its UI and CLI show) holds every payload encrypted; only the PII-free
      // search attributes and the SDK's own marker bookkeeping are plain.
      const raw = await env.client.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
      const encodings = payloadEncodings(JSON.parse(JSON.stringify(raw)));
      // The start input, six update arguments and results, the local activities' results...
      expect(encodings.length).toBeGreaterThan(10);
      expect(new Set(encodings)).toEqual(new Set(['binary/encrypted']));

      // Assignment told Newark's duty agent, once; the referring partner heard of the acknowledgement and of each
      // milestone it may know (interview scheduled, held, case opened), once each (the log channel stands in for
      // email in tests).
      const { rows: notices } = await stack.db.pool.query(
        'SELECT kind, channel, recipient, status, attempts FROM notifications WHERE lead_id = $1 ORDER BY kind',
        [leadId],
      );
      const partner = (kind: string) => ({
        kind,
        channel: 'log',
        recipient: 'partner',
        status: 'delivered',
        attempts: 1,
      });
      expect(notices).toEqual([
        { kind: 'assignment', channel: 'log', recipient: 'assignee', status: 'delivered', attempts: 1 },
        partner('partner_acknowledgement'),
        partner('partner_milestone'),
        partner('partner_milestone'),
        partner('partner_milestone'),
      ]);
      // ...through the server's activity queue: the submission's answer did not wait for the channel.
      expect(scheduledActivityTypes(raw)).toEqual(['notifyAssignment', ...Array<string>(4).fill('notifyPartner')]);
      expect(localActivityTypes(raw)).not.toContain('notifyAssignment');

      // Finished leads are read from PostgreSQL.
      const view = await stack.client.getLead(leadId);
      expect(view.from).toBe('read_model');
      // ...where partner references are shown only as keyed digests.
      expect(view.state).toEqual(openState(crypto, leadId, sealState(crypto, leadId, final.state, 'all').state));
      await expect(handle.query(leadStateQuery)).resolves.toMatchObject({ state: { status: 'case_opened' } });
    }
  });

  it('refuses a command the state does not allow, naming the status and the allowed commands, and writes nothing', async () => {
    {
      const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['ngo-farmworkers']!, {
        actor: 'svc:intake',
      });
      await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned');
      await expect(
        stack.client.openCase(leadId, { caseNumber: 'HSI-MIA-2026-0001' }, { actor: 'agent:x' }),
      ).rejects.toThrow(/OpenCase is not allowed while the lead is assigned; allowed: ReassignLead, RequestInterview/);
      const { rows } = await stack.db.pool.query('SELECT count(*)::int AS n FROM lead_events WHERE lead_id = $1', [
        leadId,
      ]);
      expect(rows[0].n).toBe(3);
      await stack.client.command(
        leadId,
        'CloseLead',
        { reason: 'referred_to_other_agency' },
        { actor: 'supervisor:y' },
      );
    }
  });

  it('refuses malformed command data sent straight to Temporal, naming the field, and writes nothing', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['hhs-tipline-minor']!, {
      actor: 'svc:intake',
    });
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned');
    // Not through the LeadClient (which checks first): a raw update, as any Temporal client could send.
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    const error = await handle
      .executeUpdate(leadCommandUpdates.AddNote, {
        args: [{ data: { text: '' }, metadata: { actor: 'agent:x', commandId: 'raw-1' } }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (error as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({
      type: 'InvalidCommand',
      message: expect.stringMatching(/^AddNote is malformed: text: /),
    });
    const { rows } = await stack.db.pool.query('SELECT count(*)::int AS n FROM lead_events WHERE lead_id = $1', [
      leadId,
    ]);
    expect(rows[0].n).toBe(3);
    // The lead is unharmed: the same command with good data is recorded.
    await stack.client.addNote(leadId, { text: 'called the partner back' }, { actor: 'agent:x' });
    await stack.client.command(leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, { actor: 'supervisor:y' });
  });

  it('a note leaves the SLA timer running and writes no search attribute', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['public-unknown-jurisdiction']!, {
      actor: 'svc:intake',
    });
    // Unserved jurisdiction: the lead waits, validated, on its assignment-stage timer.
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'validated');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    const eventTypes = async () => ((await handle.fetchHistory()).events ?? []).map((e) => e.eventType);
    const count = (types: unknown[], type: number) => types.filter((t) => t === type).length;
    const before = await eventTypes();
    await stack.client.addNote(leadId, { text: 'partner called again' }, { actor: 'agent:x' });
    await stack.client.addNote(leadId, { text: 'and again' }, { actor: 'agent:x' });
    const after = await eventTypes();
    expect(after.length).toBeGreaterThan(before.length);
    const { EventType } = proto.temporal.api.enums.v1;
    const unmoved = {
      timerStarted: EventType.EVENT_TYPE_TIMER_STARTED,
      timerCanceled: EventType.EVENT_TYPE_TIMER_CANCELED,
      searchAttributesUpserted: EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    };
    for (const [name, type] of Object.entries(unmoved)) {
      expect([name, count(after, type)]).toEqual([name, count(before, type)]);
    }
    await stack.client.command(leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, { actor: 'supervisor:y' });
  });

  it('continues as new once a run holds 1,000 events, so a worker that takes the lead replays little', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['public-unknown-jurisdiction']!, externalReference: 'BOUNDED-HISTORY' },
      { actor: 'svc:intake' },
    );
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'validated');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    const firstRun = (await handle.describe()).runId;
    // This server suggests continue-as-new only at about 4,000 events; a note adds 6 or so.
    for (let i = 0; i < 200; i++) {
      await stack.client.addNote(leadId, { text: `note ${i}` }, { actor: 'agent:x', commandId: `bounded-${i}` });
    }
    await waitFor(async () => (await handle.describe()).runId !== firstRun, 'a new run');
    const first = await stack.temporal.workflow.getHandle(leadWorkflowId(leadId), firstRun).fetchHistory();
    const events = first.events ?? [];
    expect(events.length).toBeGreaterThanOrEqual(1000);
    expect(events.length).toBeLessThan(1100);
    expect(events.at(-1)?.eventType).toBe(
      proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    );
    // Nothing lost on the way: every note is in the new run's state, and a note sent again before the new run (one of
    // the last 64 commands a lead remembers) is still recognised.
    const view = await stack.client.getLead(leadId);
    expect(view.state.noteCount).toBe(200);
    await stack.client.addNote(leadId, { text: 'note 150' }, { actor: 'agent:x', commandId: 'bounded-150' });
    expect((await stack.client.getLead(leadId)).state.noteCount).toBe(200);
    await stack.client.command(leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, { actor: 'supervisor:y' });
  });

  it('runs workflow code without per-promise stack traces (LEADLINE_WORKFLOW_STACK_TRACES=off, the default)', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['ngo-farmworkers']!, externalReference: 'TIPS-NO-STACKS' },
      {
        actor: 'svc:intake',
      },
    );
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned');
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    // The SDK's stack-trace query lists where each pending promise was made; with stacks kept, the lead's
    // timer and condition show frames in workflows/lead.ts.
    const stacks = await handle.query<string>('__stack_trace');
    expect(typeof stacks).toBe('string');
    expect(stacks).not.toMatch(/lead\.ts|leadWorkflow/);
    await stack.client.command(leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, { actor: 'supervisor:y' });
  });
});

/** The encoding of every payload in a history's JSON; left out: search attributes, and the SDK's own markers (patch ids). */
describe('an escalation notice the worker could not deliver', () => {
  it('goes to the server-side activity, which delivers it once', async () => {
    const logged: string[] = [];
    const log = createLogAdapter({ write: (line) => logged.push(line) });
    let outages = 1;
    const flaky: NotificationAdapter = {
      channel: 'log',
      async send(notification) {
        if (outages-- > 0) throw new Error('planted outage of the log channel');
        await log.send(notification);
      },
    };
    const flakyStack = await startStack(env, { policy: warningAfter(1500), adapters: [flaky] });
    try {
      const intake = {
        ...sampleIntakeInputs()['public-unknown-jurisdiction']!,
        externalReference: 'TIPS-FLAKY-NOTICE',
      };
      const { leadId } = await flakyStack.client.submitLead(intake, { actor: 'svc:intake' });
      const warnings = async () =>
        (
          await flakyStack.db.pool.query(
            "SELECT status, attempts FROM notifications WHERE lead_id = $1 AND kind = 'sla_warning'",
            [leadId],
          )
        ).rows;
      await waitFor(async () => (await warnings())[0]?.status === 'delivered', 'the SLA warning delivered', 15_000);
      // The worker's attempt met the outage; the server-side activity's first attempt delivered it.
      expect(await warnings()).toEqual([{ status: 'delivered', attempts: 2 }]);
      expect(logged.filter((line) => line.includes('sla_warning'))).toHaveLength(1);
      const history = await flakyStack.temporal.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
      expect(localActivityTypes(history)).toContain('notifyEscalation');
      expect(scheduledActivityTypes(history)).toEqual(['notifyEscalation']);
    } finally {
      await flakyStack.stop();
    }
  });
});

describe('a worker whose clock runs ahead of the server', () => {
  it('records no SLA warning before it is due', async () => {
    const policy = warningAfter(2000);
    // Each append reports a clock a minute ahead: the timer it would arm is due at once.
    const aheadMs = 60_000;
    const skewed = await startStack(env, {
      policy,
      wrapActivities: (real) => ({
        ...real,
        recordEvents: async (input) => {
          const appended = await real.recordEvents(input);
          return { ...appended, committedAt: (appended.committedAt ?? Date.now()) + aheadMs };
        },
      }),
    });
    try {
      const intake = { ...sampleIntakeInputs()['public-unknown-jurisdiction']!, externalReference: 'TIPS-CLOCK-AHEAD' };
      const { leadId } = await skewed.client.submitLead(intake, { actor: 'svc:intake' });
      const at = async (type: string) => {
        const { rows } = await skewed.db.pool.query<{ at: string }>(
          `SELECT metadata->>'at' AS at FROM lead_events WHERE lead_id = $1 AND type = $2`,
          [leadId, type],
        );
        return rows.map((r) => Date.parse(r.at));
      };
      // Without the check, the early timer found nothing due and the lead waited a minute more.
      await waitFor(async () => (await at('SlaWarning')).length > 0, 'the SLA warning', 15_000);
      const [validated] = await at('LeadValidated');
      const warnings = await at('SlaWarning');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]! - validated!).toBeGreaterThanOrEqual(stageBudgetMs(policy, 'assignment', 'standard') * 0.75);
    } finally {
      await skewed.stop();
    }
  });
});

/** A policy whose first rung for an unrouted standard lead (the assignment warning) falls `ms` after validation. */
function warningAfter(ms: number) {
  const unscaled = defaultSlaPolicy();
  return defaultSlaPolicy({
    timeScale: (unscaled.ladder.warningAt * stageBudgetMs(unscaled, 'assignment', 'standard')) / ms,
  });
}

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

function scheduledActivityTypes(history: History): string[] {
  return (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

/** The activity type in each local activity marker (the SDK's bookkeeping payload, plain JSON). */
function localActivityTypes(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0]?.data : undefined;
    if (data === undefined || data === null) return [];
    return [(JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type];
  });
}

function payloadEncodings(node: unknown, key = ''): string[] {
  if (node === null || typeof node !== 'object' || key === 'searchAttributes') return [];
  const record = node as Record<string, unknown>;
  if (key === 'markerRecordedEventAttributes') {
    // A local activity's marker holds its result (ours, encrypted) beside the SDK's bookkeeping (plain, no lead
    // data); a patch marker holds only the patch's name.
    const details = record.details as Record<string, unknown> | undefined;
    return payloadEncodings(details?.result, 'result');
  }
  const metadata = record.metadata as Record<string, string> | undefined;
  if ('data' in record && metadata?.encoding !== undefined) {
    return [Buffer.from(metadata.encoding, 'base64').toString('utf8')];
  }
  return Object.entries(record).flatMap(([k, v]) => payloadEncodings(v, k));
}
