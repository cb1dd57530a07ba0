import { execFileSync } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { leadWorkflowId } from '../workflows/messages';
import { temporalCliPath } from '../worker/temporal-binaries';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let address: string;

beforeAll(async () => {
  // A low history-count threshold makes the server suggest continue-as-new after a few dozen events.
  env = await startDevServer({ extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60'] });
  // Hours become tenths of a second: the 48 h interview-request clock runs out in 4.8 s.
  stack = await startStack(env, { policy: defaultSlaPolicy({ timeScale: 36_000 }) });
  address = (env.connection as unknown as { options: { address: string } }).options.address;
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('search attributes on the dev server', () => {
  it('lists escalated assigned leads with `temporal workflow list --query`, and shows no personal data', async () => {
    const { leadId } = await stack.client.submitLead(sampleIntakeInputs()['newark-interview-request']!, {
      actor: 'svc:test',
    });
    const calm = await stack.client.submitLead(sampleIntakeInputs()['hhs-tipline-minor']!, { actor: 'svc:test' });
    await until(
      () => stack.client.getLead(leadId),
      (v) => v.state.sla.level > 0,
    );
    await stack.client.command(calm.leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, { actor: 'hq' });
    const list = (query: string) => {
      const out = execFileSync(
        temporalCliPath(),
        [
          'workflow',
          'list',
          '--address',
          address,
          '--namespace',
          env.namespace ?? 'default',
          '--query',
          query,
          '--output',
          'json',
        ],
        {
          encoding: 'utf8',
        },
      );
      return ((out.trim() === '' ? [] : JSON.parse(out)) as { execution: { workflowId: string } }[]).map(
        (r) => r.execution.workflowId,
      );
    };
    // The query of the issue; it also matches earlier runs of a lead that continued as new.
    await until(
      () => Promise.resolve(list("LeadStatus='assigned' AND EscalationLevel>0")),
      (ids) => ids.includes(leadWorkflowId(leadId)),
    );
    // Supervisors add ExecutionStatus to see each open lead once.
    const running = list("LeadStatus='assigned' AND EscalationLevel>0 AND ExecutionStatus='Running'");
    expect(running).toEqual([leadWorkflowId(leadId)]);

    const description = await stack.temporal.workflow.getHandle(leadWorkflowId(leadId)).describe();
    const attributes = Object.fromEntries(description.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(attributes).toMatchObject({
      LeadStatus: 'assigned',
      LeadOffice: 'HSI-NEWARK',
      LeadPriority: 'standard',
      LeadSource: 'state_local_le',
    });
    expect(attributes.EscalationLevel).toBeGreaterThan(0);
    expect(JSON.stringify(attributes)).not.toMatch(/Invented Person|nail salon|prosecutor\.example/);
  });
});

describe('continue-as-new', () => {
  // It needs the low threshold above, a server setting: a shared server (TEMPORAL_ADDRESS) keeps its own.
  it.skipIf(process.env.TEMPORAL_ADDRESS !== undefined)(
    'carries the lead over to a new run when the server suggests it, losing no event',
    async () => {
      const { leadId } = await stack.client.submitLead(
        { ...sampleIntakeInputs()['ngo-farmworkers']!, externalReference: 'CAN-1' },
        { actor: 'svc:test' },
      );
      await until(
        () => stack.client.getLead(leadId),
        (v) => v.state.status === 'assigned',
      );
      await stack.client.command(leadId, 'PauseSla', { justification: 'victim stabilisation' }, { actor: 'sup' });
      const handle = stack.temporal.workflow.getHandle(leadWorkflowId(leadId));
      const firstRun = (await handle.describe()).runId;
      for (let i = 0; i < 40; i++) {
        await stack.client.command(
          leadId,
          'AddNote',
          { text: `note ${i}` },
          { actor: 'agent:rivera', commandId: `note-${i}` },
        );
      }
      const latest = await until(
        () => handle.describe(),
        (d) => d.runId !== firstRun,
      );
      expect(latest.status.name).toBe('RUNNING');
      const view = await until(
        () => stack.client.getLead(leadId),
        (v) => v.from === 'workflow' && v.state.noteCount === 40,
      );
      expect(view.state.sla.paused).toBe(true);
      // A command id seen before the new run is still recognised after it.
      await stack.client.command(
        leadId,
        'AddNote',
        { text: 'note 39' },
        { actor: 'agent:rivera', commandId: 'note-39' },
      );
      await stack.client.command(leadId, 'CloseLead', { reason: 'other' }, { actor: 'sup' });
      const final = await handle.result();
      expect(final.state.noteCount).toBe(40);
      const { rows } = await stack.db.pool.query<{ seq: number }>(
        'SELECT seq FROM lead_events WHERE lead_id = $1 ORDER BY seq',
        [leadId],
      );
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: final.state.version }, (_, i) => i + 1));
      expect(final.state.version).toBe(3 + 1 + 40 + 1);
      const timeline = await stack.client.timeline(leadId);
      expect(timeline).toHaveLength(final.state.version);
    },
  );
});
