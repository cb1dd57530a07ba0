import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandRejectedError } from '../client/errors';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startTimeSkippingServer } from './support/temporal';

const H = 3_600_000;
const D = 24 * H;
let env: TestWorkflowEnvironment;
let stack: TestStack;

beforeAll(async () => {
  env = await startTimeSkippingServer();
  stack = await startStack(env);
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

const supervisor = { actor: 'supervisor:okafor' };
const agent = { actor: 'agent:rivera' };

async function events(leadId: string) {
  const { rows } = await stack.db.pool.query<{ type: string; data: Record<string, unknown>; at: string }>(
    `SELECT type, data, metadata->>'at' AS at FROM lead_events WHERE lead_id = $1 ORDER BY seq`,
    [leadId],
  );
  return rows;
}

async function assignedLead(reference: string) {
  const { leadId } = await stack.client.submitLead(
    { ...sampleIntakeInputs()['newark-interview-request']!, externalReference: reference },
    { actor: 'svc:test' },
  );
  for (let i = 0; i < 200; i++) {
    const view = await stack.client.getLead(leadId);
    if (view.state.status === 'assigned') return { leadId, view };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('lead never assigned');
}

/** The notices the log adapter wrote for a lead, by kind. */
function noticesOf(leadId: string, kind: string) {
  return stack.notices
    .map((line) => JSON.parse(line) as { leadId: string; kind: string; recipientRole: string; subject: string })
    .filter((n) => n.leadId === leadId && n.kind === kind);
}

describe('stabilisation pause on the time-skipping test server', () => {
  it('reminds the supervisor at the expected end and at the policy maximum, exactly once each', async () => {
    const { leadId, view } = await assignedLead('TS-STABILISE');
    // Workflow time, not this process's clock: the test server has its own.
    const now = Date.parse(view.state.updatedAt);
    const expectedEnd = new Date(now + 3 * D).toISOString();
    const paused = await stack.client.command(
      leadId,
      'PauseForStabilisation',
      { category: 'shelter', expectedEnd, justification: 'placed in a shelter bed for the week' },
      supervisor,
    );
    const pausedAt = Date.parse(paused.state.updatedAt);
    const maximumEnd = paused.state.sla.stabilisation?.maximumEnd ?? '';
    expect(Date.parse(maximumEnd) - pausedAt).toBe(14 * D);
    expect(paused.state.sla.paused).toBe(true);
    expect(paused.stageDeadline).toBeNull();

    await env.sleep('3 days');
    await env.sleep('1 hour');
    let rows = (await events(leadId)).filter((r) => r.type === 'StabilisationReminded');
    expect(rows.map((r) => r.data.reminder)).toEqual(['expected_end']);
    expectNear(Date.parse(rows[0]?.at ?? '') - Date.parse(expectedEnd), 0);
    expect(noticesOf(leadId, 'stabilisation_expected_end').map((n) => n.recipientRole)).toEqual(['supervisor']);

    await env.sleep('11 days');
    rows = (await events(leadId)).filter((r) => r.type === 'StabilisationReminded');
    expect(rows.map((r) => r.data.reminder)).toEqual(['expected_end', 'maximum']);
    expectNear(Date.parse(rows[1]?.at ?? '') - Date.parse(maximumEnd), 0);
    expect(noticesOf(leadId, 'stabilisation_maximum').map((n) => n.recipientRole)).toEqual(['supervisor']);

    // Nothing more while the pause goes on: each reminder once, in the log and in the notifications table.
    await env.sleep('10 days');
    rows = (await events(leadId)).filter((r) => r.type === 'StabilisationReminded');
    expect(rows).toHaveLength(2);
    const { rows: sent } = await stack.db.pool.query<{ kind: string; n: number }>(
      `SELECT kind, count(*)::int AS n FROM notifications WHERE lead_id = $1 AND kind LIKE 'stabilisation_%'
        GROUP BY kind ORDER BY kind`,
      [leadId],
    );
    expect(sent).toEqual([
      { kind: 'stabilisation_expected_end', n: 1 },
      { kind: 'stabilisation_maximum', n: 1 },
    ]);
    expect(noticesOf(leadId, 'stabilisation_expected_end')).toHaveLength(1);
    expect(noticesOf(leadId, 'stabilisation_maximum')).toHaveLength(1);
    // The notice names no category of care and no justification.
    expect(stack.notices.filter((n) => n.includes(leadId)).join('\n')).not.toMatch(/shelter/);

    // The pause shows in the timeline; resuming keeps the time used before it.
    const timeline = await stack.client.timeline(leadId);
    const entry = timeline.find((e) => e.type === 'StabilisationPaused');
    expect(entry?.detail).toMatchObject({ category: 'shelter', expectedEnd, justification: 'recorded' });
    const resumed = await stack.client.command(leadId, 'ResumeSla', {}, supervisor);
    expect(resumed.state.sla.stabilisation).toBeUndefined();
    expect(resumed.state.sla.usedMs).toBe(paused.state.sla.usedMs);
  });

  it('a resumed pause reminds no one', async () => {
    const { leadId, view } = await assignedLead('TS-STABILISE-RESUMED');
    const expectedEnd = new Date(Date.parse(view.state.updatedAt) + 2 * D).toISOString();
    await stack.client.command(leadId, 'PauseForStabilisation', { category: 'medical', expectedEnd }, supervisor);
    await env.sleep('1 day');
    await stack.client.command(leadId, 'ResumeSla', {}, supervisor);
    await env.sleep('15 days');
    expect((await events(leadId)).filter((r) => r.type === 'StabilisationReminded')).toEqual([]);
    expect(noticesOf(leadId, 'stabilisation_expected_end')).toEqual([]);
  });
});

describe('safety and consent gate contact, through the workflow', () => {
  it('refuses RequestInterview while contact is unsafe, naming the rule; recorded safe, it goes through', async () => {
    const { leadId } = await assignedLead('TS-SAFETY-GATE');
    await stack.client.command(
      leadId,
      'RecordSafety',
      { safeToContact: 'no', contactThrough: 'NGO caseworker' },
      agent,
    );
    const request = {
      scheduledFor: '2026-12-02T15:00:00.000Z',
      place: 'Newark field office',
      interpreterLanguage: 'vi',
      victimSpecialist: true,
    };
    const refused = await stack.client.command(leadId, 'RequestInterview', request, agent).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CommandRejectedError);
    const error = refused as CommandRejectedError;
    expect(error.status).toBe('assigned');
    expect(error.rules.map((r) => r.rule)).toEqual(['contact_unsafe']);
    expect(error.message).toMatch(/contact_unsafe/);
    expect(error.message).not.toMatch(/caseworker/i);
    // The newark victims need an interpreter (the intake says so): without one it is refused for that too.
    const { interpreterLanguage: _none, ...withoutInterpreter } = request;
    const both = (await stack.client
      .command(leadId, 'RequestInterview', withoutInterpreter, agent)
      .catch((e: unknown) => e)) as CommandRejectedError;
    expect(both.rules.map((r) => r.rule)).toEqual(['contact_unsafe', 'interpreter_needed']);

    await stack.client.command(leadId, 'RecordSafety', { safeToContact: 'yes' }, agent);
    const requested = await stack.client.command(leadId, 'RequestInterview', request, agent);
    expect(requested.state.status).toBe('interview_requested');
    // The read model keeps what the rules know sealed.
    const { rows } = await stack.db.pool.query<{ state: string }>(
      'SELECT state::text AS state FROM leads WHERE lead_id = $1',
      [leadId],
    );
    expect(rows[0]?.state).not.toMatch(/safeToContact/);
  });

  it('a lead marked in immediate danger becomes urgent, its deadline recomputed with the time used kept', async () => {
    const { leadId, view } = await assignedLead('TS-DANGER');
    const assignedAt = Date.parse(view.state.sla.runningSince ?? '');
    expect(view.state.priority).toBe('standard');
    await env.sleep('5 hours');
    const urgent = await stack.client.command(leadId, 'RecordSafety', { immediateDanger: true }, agent);
    expect(urgent.state.priority).toBe('urgent');
    // interview_request: 12 h urgent from the assignment, of which 5 h are used.
    expect(Date.parse(urgent.stageDeadline ?? '')).toBe(assignedAt + 12 * H);
  });
});

/** Timers fire on time; the event is stamped when the workflow task runs, a little later. */
function expectNear(actualMs: number, expectedMs: number, toleranceMs = 1_000) {
  expect(actualMs).toBeGreaterThanOrEqual(expectedMs);
  expect(actualMs - expectedMs).toBeLessThan(toleranceMs);
}
