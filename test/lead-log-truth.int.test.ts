/**
 * The event log is the truth (issue 13): a worker killed with SIGKILL after an append committed but before its
 * workflow task completed leaves a lead whose workflow re-runs that task with a new clock and new proposals. The
 * re-run must adopt what the log holds: the lead keeps running, its state, clocks and timeline are the fold of its
 * log, nothing is recorded twice and no notice is lost. A cancellation request does not end a lead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDirectory } from '../activities/directory';
import { createEventStore } from '../activities/event-store';
import { createActivities, projectLead } from '../activities/lead-activities';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import type { RecordEventsResult } from '../activities/contract';
import type { RecordedEvent } from '../schemas/events';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { verifyOpenLeads } from '../admin/verify';
import { leadWorkflowId } from '../workflows/messages';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

let env: TestWorkflowEnvironment;
const stacks: TestStack[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await startDevServer();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const stack of stacks.splice(0)) await stack.stop();
});
afterAll(async () => {
  await env?.teardown();
});

/** A stack whose own worker waits, and a real worker in a child process that hangs once `hangAfter` commits. */
async function stackWithDoomedWorker(hangAfter: string, policy = defaultSlaPolicy()) {
  const payloadKey = randomBytes(32);
  const stack = await startStack(env, { payloadKey, deferWorker: true, policy });
  stacks.push(stack);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./support/doomed-worker.ts', import.meta.url))],
    {
      env: {
        ...process.env,
        DATABASE_URL: stack.db.appUrl,
        TEMPORAL_ADDRESS: env.address,
        LEADLINE_TASK_QUEUE: stack.taskQueue,
        LEADLINE_PAYLOAD_KEY: payloadKey.toString('base64'),
        LEADLINE_HANG_AFTER: hangAfter,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  const said = new Set<string>();
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  lines.on('line', (line) => {
    said.add(line);
    for (const w of waiters.filter((w) => line.startsWith(w.prefix))) w.resolve(line);
  });
  const heard = (prefix: string, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const found = [...said].find((line) => line.startsWith(prefix));
      if (found !== undefined) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`the doomed worker never said "${prefix}"`)), timeoutMs);
      waiters.push({
        prefix,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  await heard('polling');
  /** SIGKILL once the append has committed, then let the stack's own worker take over. */
  const killAfterCommit = async () => {
    const line = await heard('committed');
    child.kill('SIGKILL');
    await once(child, 'exit');
    stack.startWorker();
    return line;
  };
  return { stack, killAfterCommit };
}

/** A new lead each time: the same partner reference would name the same lead (and another test's workflow). */
const newarkLead = () => ({ ...sampleIntakeInputs()['newark-interview-request']!, externalReference: randomUUID() });

async function logOf(stack: TestStack, leadId: string) {
  const { rows } = await stack.db.pool.query<{
    seq: number;
    event_id: string;
    type: string;
    data: { stage?: string; level?: number };
    at: string;
  }>(`SELECT seq, event_id, type, data, metadata->>'at' AS at FROM lead_events WHERE lead_id = $1 ORDER BY seq`, [
    leadId,
  ]);
  return rows;
}

/** The workflow's state, timeline and status against the log and the read model. */
async function expectWorkflowEqualsLog(stack: TestStack, leadId: string) {
  const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
  expect((await handle.describe()).status.name).toBe('RUNNING');
  const report = await verifyOpenLeads(stack.db.pool, stack.temporal, { taskQueue: stack.taskQueue });
  expect(report.differences).toEqual([]);
  const log = await logOf(stack, leadId);
  const timeline = await stack.client.timeline(leadId);
  expect(timeline.map((entry) => [entry.seq, entry.type, entry.at])).toEqual(log.map((e) => [e.seq, e.type, e.at]));
  const lead = await stack.client.getLead(leadId);
  expect(lead.from).toBe('workflow');
  expect(lead.state.version).toBe(log.length);
  expect(lead.state.receivedAt).toBe(log[0]?.at);
}

describe('a worker killed between an append and the end of its workflow task', () => {
  it('at intake: the lead keeps the log’s clock, not the re-run’s, and goes on to be assigned', async () => {
    const { stack, killAfterCommit } = await stackWithDoomedWorker('LeadReceived');
    const submitted = stack.client.submitLead(newarkLead(), {
      actor: 'svc:test',
    });
    await killAfterCommit();
    const { leadId } = await submitted;
    await waitFor(async () => (await logOf(stack, leadId)).some((e) => e.type === 'LeadAssigned'), 'assigned', 60_000);
    const log = await logOf(stack, leadId);
    expect(log.map((e) => e.type)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);
    await expectWorkflowEqualsLog(stack, leadId);
    // The re-run started seconds later: a deadline from its own clock would differ from the log's.
    const lead = await stack.client.getLead(leadId);
    const assignedAt = Date.parse(log[2]!.at);
    expect(Date.parse(lead.stageDeadline!)).toBe(assignedAt + (lead.state.priority === 'urgent' ? 12 : 48) * 3_600_000);
    const after = await stack.client.addNote(leadId, { text: 'still moving' }, { actor: 'agent:rivera' });
    expect(after.state.version).toBe(4);
  });

  it('mid-intake, after validation: the re-run’s own ids do not collide with the log’s, and the lead is assigned', async () => {
    // The re-run adopts the received and validated events, then routes: the first id its run's generator draws for
    // the routing command is the one the lost attempt gave the validation command (ids are drawn again after a crash).
    const { stack, killAfterCommit } = await stackWithDoomedWorker('LeadValidated');
    const submitted = stack.client.submitLead(newarkLead(), { actor: 'svc:test' });
    await killAfterCommit();
    const { leadId } = await submitted;
    await waitFor(async () => (await logOf(stack, leadId)).some((e) => e.type === 'LeadAssigned'), 'assigned', 60_000);
    const log = await logOf(stack, leadId);
    expect(log.map((e) => e.type)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);
    expect(new Set(log.map((e) => e.event_id)).size).toBe(log.length);
    await expectWorkflowEqualsLog(stack, leadId);
    const after = await stack.client.addNote(leadId, { text: 'still moving' }, { actor: 'agent:rivera' });
    expect(after.state.version).toBe(4);
  });

  it('after a command: the command is answered once, recorded once, and the lead goes on', async () => {
    const { stack, killAfterCommit } = await stackWithDoomedWorker('NoteAdded');
    // The doomed worker records intake and routing; the note is the append it dies after.
    const { leadId } = await stack.client.submitLead(newarkLead(), {
      actor: 'svc:test',
    });
    await waitFor(async () => (await logOf(stack, leadId)).some((e) => e.type === 'LeadAssigned'), 'assigned', 60_000);
    const noted = stack.client.addNote(leadId, { text: 'called the partner' }, { actor: 'agent:rivera' });
    await killAfterCommit();
    const snapshot = await noted;
    const log = await logOf(stack, leadId);
    expect(log.filter((e) => e.type === 'NoteAdded')).toHaveLength(1);
    expect(snapshot.state.version).toBe(log.length);
    await expectWorkflowEqualsLog(stack, leadId);
  });

  it('after an SLA rung: the lead is not failed, the rung is recorded once and its notice is sent', async () => {
    // The interview-request stage's warning falls due ~3.6 s after assignment (48 h / 36,000).
    const { stack, killAfterCommit } = await stackWithDoomedWorker(
      'SlaWarning',
      defaultSlaPolicy({ timeScale: 36_000 }),
    );
    const { leadId } = await stack.client.submitLead(newarkLead(), {
      actor: 'svc:test',
    });
    await killAfterCommit();
    const warnings = (await logOf(stack, leadId)).filter((e) => e.type === 'SlaWarning');
    expect(warnings).toHaveLength(1);
    // The ladder climbs on after the new worker took over.
    await waitFor(
      async () => (await logOf(stack, leadId)).some((e) => e.type === 'LeadEscalated'),
      'the next rung',
      60_000,
    );
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const log = await logOf(stack, leadId);
    const rungs = log
      .filter((e) => e.type === 'SlaWarning' || e.type === 'LeadEscalated')
      .map((e) => `${e.type}:${e.data.stage}:${e.data.level ?? 0}`);
    expect(new Set(rungs).size).toBe(rungs.length);
    // The notice of the rung committed just before the kill was delivered after all (it was never sent before).
    await waitFor(async () => {
      const { rows } = await stack.db.pool.query(
        `SELECT 1 FROM notifications WHERE idempotency_key LIKE $1 AND status = 'delivered'`,
        [`${warnings[0]!.event_id}:%`],
      );
      return rows.length > 0;
    }, 'the warning notice');
    // Pause the clock so the ladder stands still while the views are compared.
    await stack.client.command(
      leadId,
      'PauseSla',
      { justification: 'victim stabilisation' },
      { actor: 'agent:rivera' },
    );
    await expectWorkflowEqualsLog(stack, leadId);
  });
  it('after a stabilisation reminder: recorded once, its notice sent, and the pause goes on', async () => {
    const { stack, killAfterCommit } = await stackWithDoomedWorker(
      'StabilisationReminded',
      defaultSlaPolicy({ timeScale: 36_000 }),
    );
    const { leadId } = await stack.client.submitLead(newarkLead(), { actor: 'svc:test' });
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'the lead assigned');
    // The expected end is a date the supervisor gives, not a policy budget: the reminder falls due 2 s from now.
    const expectedEnd = new Date(Date.now() + 2_000).toISOString();
    await stack.client.command(
      leadId,
      'PauseForStabilisation',
      { category: 'shelter', expectedEnd, justification: 'placed in a shelter bed for the week' },
      { actor: 'hsi-newark.supervisor' },
    );
    await killAfterCommit();
    const reminded = () => logOf(stack, leadId).then((log) => log.filter((e) => e.type === 'StabilisationReminded'));
    const [reminder] = await reminded();
    expect(reminder).toBeDefined();
    // The replacing worker re-runs the task: it adopts the committed reminder and sends its notice, once.
    await waitFor(async () => {
      const { rows } = await stack.db.pool.query(
        `SELECT 1 FROM notifications WHERE idempotency_key LIKE $1 AND status = 'delivered'`,
        [`${reminder!.event_id}:%`],
      );
      return rows.length > 0;
    }, 'the reminder notice');
    // Once: one notice per recipient and channel, all for the one reminder.
    const { rows: notices } = await stack.db.pool.query<{ n: number; reminders: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT split_part(idempotency_key, ':', 1))::int AS reminders
         FROM notifications WHERE lead_id = $1 AND kind = 'stabilisation_expected_end'
        GROUP BY recipient, channel`,
      [leadId],
    );
    expect(notices.length).toBeGreaterThan(0);
    for (const notice of notices) expect(notice).toEqual({ n: 1, reminders: 1 });
    expect(await reminded()).toHaveLength(1);
    const lead = await stack.client.getLead(leadId);
    expect(lead.state.sla.paused).toBe(true);
    await expectWorkflowEqualsLog(stack, leadId);
  });
});

describe('an append whose event id the log already holds at another position', () => {
  it('is recorded under fresh ids and returns the events as committed, instead of failing for ever', async () => {
    const stack = await startStack(env);
    stacks.push(stack);
    const activities = createActivities({
      pool: stack.db.pool,
      store: createEventStore(stack.db.pool, projectLead),
      directory: await loadDirectory(),
      delivery: createNotificationDelivery({ pool: stack.db.pool, adapters: [] }),
      channels: [],
      fingerprintKey: TEST_FINGERPRINT_KEY,
    });
    const { leadId } = await stack.client.submitLead(newarkLead(), { actor: 'svc:test' });
    const [received] = await logOf(stack, leadId);
    const at = new Date().toISOString();
    // A re-run task drew again the id its lost attempt gave the intake event, now for a note.
    const note = {
      eventId: received!.event_id,
      type: 'NoteAdded',
      data: { text: 'n' },
      metadata: { actor: 'agent:rivera', at, commandId: randomUUID() },
    } as unknown as RecordedEvent;
    const version = (await logOf(stack, leadId)).length;
    const result: RecordEventsResult = await new MockActivityEnvironment().run(
      activities.recordEvents.bind(activities),
      {
        leadId,
        expectedVersion: version,
        events: [note],
      },
    );
    expect(result.adopted).toBeUndefined();
    expect(result.events).toHaveLength(1);
    expect(result.events![0]!.eventId).not.toBe(received!.event_id);
    const log = await logOf(stack, leadId);
    expect(log.at(-1)?.event_id).toBe(result.events![0]!.eventId);
  });
});

describe('a cancellation request', () => {
  it('does not end a lead: the workflow keeps running, the request is audited, commands still work', async () => {
    const stack = await startStack(env);
    stacks.push(stack);
    const { leadId } = await stack.client.submitLead(newarkLead(), {
      actor: 'svc:test',
    });
    const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
    await handle.cancel();
    await waitFor(async () => {
      const { rows } = await stack.db.pool.query(
        `SELECT 1 FROM audit_log WHERE lead_id = $1 AND action = 'CancelWorkflow' AND outcome = 'refused'`,
        [leadId],
      );
      return rows.length === 1;
    }, 'the refusal audited');
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const noted = await stack.client.addNote(leadId, { text: 'after the cancel' }, { actor: 'agent:rivera' });
    expect(noted.state.status).not.toBe('closed');
    const closed = await stack.client.command(
      leadId,
      'CloseLead',
      { reason: 'no_trafficking_indicators' },
      { actor: 'supervisor:hsi-newark' },
    );
    expect(closed.state.status).toBe('closed');
    expect((await handle.result()).state.status).toBe('closed');
    expect((await handle.describe()).status.name).toBe('COMPLETED');
  });
});
