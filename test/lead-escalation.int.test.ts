import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageBudgetMs } from '../domain/sla';
import type { LeadIntakeInput } from '../schemas/intake';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

/*
 * Escalation in real time, on a real Temporal: the dev server in `npm test`, Temporal Server on PostgreSQL in
 * `npm run test:cluster` (TEMPORAL_ADDRESS). lead-sla.int.test.ts checks the ladder's arithmetic on the time-skipping
 * server; this checks that real timers on a real server fire the rungs when they are due, and not before.
 */

/** The default policy, 1,800 times faster: an urgent lead's 2 h assignment budget is 4 s (rungs at 3, 4, 6, 8 s). */
const policy = defaultSlaPolicy({ timeScale: 1800 });
const budgetMs = stageBudgetMs(policy, 'assignment', 'urgent');
/** How late a rung may be recorded after it is due: a timer, a workflow task and an append, on a shared machine. */
const LATE_MS = 3_000;

let env: TestWorkflowEnvironment;
let stack: TestStack;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env, { policy });
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

/** Valid, urgent, from a jurisdiction no office serves: it waits unassigned and climbs the ladder. */
const unroutedUrgent = (reference: string): LeadIntakeInput => ({
  ...sampleIntakeInputs()['public-unknown-jurisdiction']!,
  flags: { imminentDanger: true, minorInvolved: false },
  externalReference: reference,
});

async function rungs(leadId: string) {
  const { rows } = await stack.db.pool.query<{
    type: string;
    data: { level?: number; deadline: string };
    recorded_ms: string;
  }>(
    `SELECT type, data, extract(epoch FROM recorded_at) * 1000 AS recorded_ms FROM lead_events
      WHERE lead_id = $1 AND type IN ('SlaWarning', 'LeadEscalated') ORDER BY seq`,
    [leadId],
  );
  return rows.map((r) => {
    const level = r.type === 'SlaWarning' ? 0 : (r.data.level ?? 1);
    // Due at 75 % of the budget (the warning), 100 %, 150 % and 200 % (levels 1-3); the deadline is 100 %.
    const fraction = [policy.ladder.warningAt, ...policy.ladder.levels][level] ?? NaN;
    const dueMs = Date.parse(r.data.deadline) + (fraction - 1) * budgetMs;
    return { level, lateMs: Number(r.recorded_ms) - dueMs };
  });
}

describe('SLA rungs in real time', () => {
  it('an urgent lead left unassigned is warned at 3 s and escalates at 4, 6 and 8 s, each on time and notified', async () => {
    const { leadId } = await stack.client.submitLead(unroutedUrgent('RT-LADDER'), { actor: 'svc:test' });
    await waitFor(async () => (await rungs(leadId)).length >= 4, 'four rungs', 30_000);
    const fired = await rungs(leadId);
    console.info(`rungs recorded after due (ms): ${fired.map((r) => Math.round(r.lateMs)).join(', ')}`);
    expect(fired.map((r) => r.level)).toEqual([0, 1, 2, 3]);
    for (const rung of fired) {
      // Never before it is due (50 ms: the clocks of the workflow's append and of PostgreSQL's now()).
      expect(rung.lateMs).toBeGreaterThan(-50);
      expect(rung.lateMs).toBeLessThan(LATE_MS);
    }
    await waitFor(
      () => Promise.resolve(stack.notices.filter((n) => n.includes(leadId)).length >= 4),
      'four notices',
      10_000,
    );
    expect((await stack.client.getLead(leadId)).state.sla.level).toBe(3);
  });

  it('a lead closed before its first rung never escalates', async () => {
    const { leadId } = await stack.client.submitLead(unroutedUrgent('RT-CLOSED'), { actor: 'svc:test' });
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'validated', 'validation');
    await stack.client.command(leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, { actor: 'hq:duty' });
    // Past every rung the lead would have had (8 s after validation), with room for a late one.
    await new Promise((r) => setTimeout(r, 2 * budgetMs + LATE_MS));
    expect(await rungs(leadId)).toEqual([]);
  });
});
