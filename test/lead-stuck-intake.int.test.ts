import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeadActivities } from '../activities/contract';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startTimeSkippingServer } from './support/temporal';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let validationUp = false;
let validationAttempts = 0;

beforeAll(async () => {
  env = await startTimeSkippingServer();
  stack = await startStack(env, {
    // The validation check's dependency is down until the test says otherwise: Temporal keeps retrying it.
    wrapActivities: (real): LeadActivities => ({
      ...real,
      async validateLead(input) {
        validationAttempts++;
        if (!validationUp) throw new Error('duplicate-check index unavailable');
        return real.validateLead(input);
      },
    }),
  });
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

describe('a lead whose automatic validation hangs', () => {
  it('still climbs the ladder of its validation stage, and carries on once the check recovers', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['hhs-tipline-minor']!, { actor: 'svc:test' });
    // Urgent: validation is due within 1 h; the ladder reaches level 2 at 1.5 h.
    await env.sleep('100 minutes');
    const stuck = await stack.client.getLead(leadId);
    expect(stuck.state.status).toBe('received');
    expect(stuck.state.sla.stage).toBe('validation');
    expect(stuck.state.sla.level).toBe(2);
    expect(validationAttempts).toBeGreaterThan(3);

    validationUp = true;
    await env.sleep('2 minutes');
    for (let i = 0; i < 100 && (await stack.client.getLead(leadId)).state.status !== 'assigned'; i++) {
      await env.sleep('10 seconds');
    }
    const recovered = await stack.client.getLead(leadId);
    expect(recovered.state).toMatchObject({ status: 'assigned', office: 'HSI-GULFCOAST' });
    expect(recovered.state.sla.level).toBe(0);
    const { rows } = await stack.db.pool.query<{ type: string }>(
      'SELECT type FROM lead_events WHERE lead_id = $1 ORDER BY seq',
      [leadId],
    );
    expect(rows.map((r) => r.type)).toEqual([
      'LeadReceived',
      'SlaWarning',
      'LeadEscalated',
      'LeadEscalated',
      'LeadValidated',
      'LeadAssigned',
    ]);
  });
});
