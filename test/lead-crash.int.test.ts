import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeadActivities } from '../activities/contract';
import { leadWorkflowId } from '../workflows/messages';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { waitFor } from './support/wait';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';

let env: TestWorkflowEnvironment;
let stack: TestStack;
/** Event types whose append has already committed once and then "crashed" before answering. */
const crashedAfterCommit = new Set<string>();
let crashes = 0;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env, {
    // The activity commits its transaction, then dies before Temporal hears of it, once per event type:
    // exactly what a worker crash or a lost network answer looks like to the workflow.
    wrapActivities: (real): LeadActivities => ({
      ...real,
      async recordEvents(input) {
        const result = await real.recordEvents(input);
        const key = input.events.map((e) => e.type).join(',');
        if (!crashedAfterCommit.has(key)) {
          crashedAfterCommit.add(key);
          crashes++;
          throw new Error('simulated crash after the transaction committed');
        }
        return result;
      },
    }),
  });
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

describe('an activity that fails after its transaction committed', () => {
  it('is retried by Temporal and writes nothing twice', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['newark-interview-request']!, {
      actor: 'svc:test',
    });
    const actor = { actor: 'agent:rivera' };
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'assigned');
    await stack.client.command(
      leadId,
      'RequestInterview',
      { scheduledFor: '2026-12-02T15:00:00.000Z', place: 'office', interpreterLanguage: 'vi', victimSpecialist: false },
      actor,
    );
    await stack.client.command(leadId, 'CompleteInterview', { outcome: 'no_trafficking_indicators' }, actor);
    await stack.client.command(leadId, 'CloseLead', { reason: 'no_trafficking_indicators' }, actor);
    const final = await stack.temporal.workflow.getHandle(leadWorkflowId(leadId)).result();
    expect(crashes).toBe(6);

    const { rows } = await stack.db.pool.query<{ seq: number; type: string }>(
      'SELECT seq, type FROM lead_events WHERE lead_id = $1 ORDER BY seq',
      [leadId],
    );
    expect(rows.map((r) => r.type)).toEqual([
      'LeadReceived',
      'LeadValidated',
      'LeadAssigned',
      'InterviewRequested',
      'InterviewCompleted',
      'LeadClosed',
    ]);
    expect(final.state.version).toBe(6);
    const { rows: lead } = await stack.db.pool.query('SELECT version, status FROM leads WHERE lead_id = $1', [leadId]);
    expect(lead).toEqual([{ version: 6, status: 'closed' }]);
    // One audit row per recorded command, none for the retries.
    const { rows: audit } = await stack.db.pool.query<{ action: string; outcome: string }>(
      "SELECT action, outcome FROM audit_log WHERE lead_id = $1 AND outcome = 'recorded' ORDER BY id",
      [leadId],
    );
    expect(audit).toHaveLength(6);
  });

  it('audits a refused command with its actor and outcome', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['ngo-farmworkers']!, { actor: 'svc:test' });
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'assigned');
    await expect(
      stack.client.command(leadId, 'OpenCase', { caseNumber: 'HSI-MIA-2026-0009' }, { actor: 'agent:early' }),
    ).rejects.toThrow(/not allowed while the lead is assigned/);
    const { rows } = await stack.db.pool.query(
      "SELECT actor, action, outcome FROM audit_log WHERE lead_id = $1 AND outcome <> 'recorded'",
      [leadId],
    );
    expect(rows).toEqual([{ actor: 'agent:early', action: 'OpenCase', outcome: 'refused' }]);
  });
});
