import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeadIntakeInput } from '../schemas/intake';
import { leadWorkflowId } from '../workflows/messages';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startTimeSkippingServer } from './support/temporal';

const H = 3_600_000;
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

/** An urgent lead from a jurisdiction no office serves: it is valid, and waits unassigned. */
const unroutedUrgent: LeadIntakeInput = {
  ...sampleIntakeInputs()['public-unknown-jurisdiction']!,
  flags: { imminentDanger: true, minorInvolved: false },
};

async function events(leadId: string) {
  const { rows } = await stack.db.pool.query<{ type: string; data: { level?: number }; at: string }>(
    `SELECT type, data, metadata->>'at' AS at FROM lead_events WHERE lead_id = $1 ORDER BY seq`,
    [leadId],
  );
  return rows;
}
const at = (rows: { type: string; at: string }[], type: string, nth = 0) => {
  const found = rows.filter((r) => r.type === type)[nth];
  if (found === undefined) throw new Error(`no ${type} #${nth} in ${rows.map((r) => r.type).join(', ')}`);
  return Date.parse(found.at);
};

describe('SLA clocks on the time-skipping test server', () => {
  it('crosses a 24-hour timer in a moment of wall time: an unassigned standard lead escalates at 24 h', async () => {
    const standard = {
      ...unroutedUrgent,
      flags: { imminentDanger: false, minorInvolved: false },
      externalReference: 'TS-24H',
    };
    const { leadId } = await stack.client.submitLead(standard, { actor: 'svc:test' });
    const wall = Date.now();
    await env.sleep('25 hours');
    const wallMs = Date.now() - wall;
    const rows = await events(leadId);
    expectNear(at(rows, 'LeadEscalated') - at(rows, 'LeadValidated'), 24 * H);
    expectNear(at(rows, 'SlaWarning') - at(rows, 'LeadValidated'), 18 * H);
    // Real time would be a day; the test server skips it. Generous bound: this is not a speed test.
    expect(wallMs).toBeLessThan(10_000);
  });

  it('an urgent lead left unassigned escalates to level 1 at 2 h, level 2 at 3 h and level 3 at 4 h', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...unroutedUrgent, externalReference: 'TS-URGENT' },
      { actor: 'svc:test' },
    );
    await env.sleep('5 hours');
    const rows = await events(leadId);
    const validated = at(rows, 'LeadValidated');
    const levels = rows.filter((r) => r.type === 'LeadEscalated');
    expect(levels.map((r) => r.data.level)).toEqual([1, 2, 3]);
    levels.forEach((r, i) => expectNear(Date.parse(r.at) - validated, [2 * H, 3 * H, 4 * H][i] ?? NaN));
    const view = await stack.client.getLead(leadId);
    expect(view.state.status).toBe('validated');
    expect(view.state.sla.level).toBe(3);
    // Unassigned: every rung goes to HQ's duty desk, through the log channel in tests.
    expect(stack.notices.filter((n) => n.includes(leadId)).length).toBeGreaterThanOrEqual(4);
  });

  it('an interview requested but not completed escalates at 72 h', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['newark-interview-request']!, {
      actor: 'svc:test',
    });
    await waitForStatus(leadId, 'assigned');
    await stack.client.command(
      leadId,
      'RequestInterview',
      {
        scheduledFor: '2026-12-02T15:00:00.000Z',
        place: 'Newark field office',
        interpreterLanguage: 'vi',
        victimSpecialist: true,
      },
      { actor: 'agent:rivera' },
    );
    await env.sleep('73 hours');
    const rows = await events(leadId);
    const escalation = rows.find((r) => r.type === 'LeadEscalated');
    expect(escalation?.data.level).toBe(1);
    expectNear(at(rows, 'LeadEscalated') - at(rows, 'InterviewRequested'), 72 * H);
  });

  it('a 10 h pause, then resume, moves the deadlines by 10 h', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['ngo-farmworkers']!, externalReference: 'TS-PAUSE' },
      { actor: 'svc:test' },
    );
    await waitForStatus(leadId, 'assigned');
    const before = await stack.client.getLead(leadId);
    const deadline = Date.parse(before.stageDeadline ?? '');
    await stack.client.command(
      leadId,
      'PauseSla',
      { justification: 'victim stabilisation' },
      { actor: 'supervisor:okafor' },
    );
    expect((await stack.client.getLead(leadId)).stageDeadline).toBeNull();
    await env.sleep('10 hours');
    const resumed = await stack.client.command(leadId, 'ResumeSla', {}, { actor: 'supervisor:okafor' });
    const moved = Date.parse(resumed.stageDeadline ?? '');
    // Whole-second tolerance: the commands themselves take a little server time.
    expect(Math.abs(moved - deadline - 10 * H)).toBeLessThan(5_000);
    await env.sleep('60 hours');
    const rows = await events(leadId);
    expect(Math.abs(at(rows, 'LeadEscalated') - deadline - 10 * H)).toBeLessThan(5_000);
  });

  it('an acknowledgement holds re-escalation for the interval', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...unroutedUrgent, externalReference: 'TS-ACK' },
      { actor: 'svc:test' },
    );
    await env.sleep('130 minutes');
    const escalated = await stack.client.getLead(leadId);
    expect(escalated.state.sla.level).toBe(1);
    const acked = await stack.client.command(
      leadId,
      'AcknowledgeEscalation',
      { note: 'HQ is on it' },
      { actor: 'hq:duty' },
    );
    const ackAt = Date.parse(acked.state.updatedAt);
    await env.sleep('2 hours');
    // Level 2 was due at 3 h; the hold (4 h) keeps it back.
    expect((await stack.client.getLead(leadId)).state.sla.level).toBe(1);
    await env.sleep('3 hours');
    const rows = await events(leadId);
    expectNear(at(rows, 'LeadEscalated', 1) - ackAt, 4 * H);
  });

  it('a lead finished in time never escalates', async () => {
    const { leadId } = await stack.client.submitLead(
      { ...sampleIntakeInputs()['newark-interview-request']!, externalReference: 'TS-ONTIME' },
      { actor: 'svc:test' },
    );
    await waitForStatus(leadId, 'assigned');
    const actor = { actor: 'agent:rivera' };
    await stack.client.command(
      leadId,
      'RequestInterview',
      { scheduledFor: '2026-12-02T15:00:00.000Z', place: 'office', interpreterLanguage: 'vi', victimSpecialist: true },
      actor,
    );
    await env.sleep('20 hours');
    await stack.client.command(leadId, 'CompleteInterview', { outcome: 'victim_identified' }, actor);
    await env.sleep('2 days');
    await stack.client.command(leadId, 'OpenCase', { caseNumber: 'HSI-NWK-2026-0077' }, actor);
    const final = await stack.temporal.workflow.getHandle(leadWorkflowId(leadId)).result();
    expect(final.state.status).toBe('case_opened');
    await env.sleep('30 days');
    const rows = await events(leadId);
    expect(rows.filter((r) => r.type === 'SlaWarning' || r.type === 'LeadEscalated')).toEqual([]);
  });
});

/** Timers fire on time; the event is stamped when the workflow task runs, a few milliseconds later. */
function expectNear(actualMs: number, expectedMs: number, toleranceMs = 1_000) {
  expect(actualMs).toBeGreaterThanOrEqual(expectedMs);
  expect(actualMs - expectedMs).toBeLessThan(toleranceMs);
}

async function waitForStatus(leadId: string, status: string) {
  for (let i = 0; i < 200; i++) {
    if ((await stack.client.getLead(leadId)).state.status === status) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`lead never reached ${status}`);
}
