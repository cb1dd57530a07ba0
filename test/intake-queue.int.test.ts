import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool, freePort } from '../activities/db';
import { createIntakeQueue, type IntakeQueue } from '../activities/intake-queue';
import {
  createLegacyLeadIdLookup,
  LEGACY_LEAD_IDS_IN_USE,
  LEGACY_LEAD_IDS_PLAN,
  legacyLeadIdsInUse,
} from '../activities/legacy-lead-ids';
import { createLeadReadModel } from '../activities/read-model';
import { IdempotencyConflictError, LeadPendingError, OutcomeUnknownError, UnavailableError } from '../client/errors';
import { buildApi } from '../client/http';
import { startTestAccess } from './support/access';
import { LeadClient, leadIdForKey, legacyLeadIdForKey } from '../client/lead-client';
import { LeadIntake, type LeadIntakeInput } from '../schemas/intake';
import { leadWorkflowId } from '../workflows/messages';
import { startIntakeForwarder, type IntakeForwarder } from '../worker/intake-forwarder';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { withAdmin } from './support/postgres';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let queue: IntakeQueue;
/** Temporal as a client sees it while the server is away: every call fails as unavailable. */
let unreachable: Connection;
const logged: { level: string; message: string; fields: Record<string, unknown> }[] = [];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  queue = createIntakeQueue(stack.db.pool);
  unreachable = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
});
// Each test's forwarders stop with it, so none takes the next test's leads.
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});
afterAll(async () => {
  await unreachable?.close();
  await stack?.stop();
  await env?.teardown();
});

function uniqueIntake(name: string): LeadIntakeInput {
  return { ...sampleIntakeInputs()[name]!, externalReference: `${name}-${randomUUID()}` };
}

/** A LeadClient that queues; `reachable: false` gives it a Temporal that cannot be reached. */
function queuingClient(reachable: boolean, legacy = false): LeadClient {
  return stack.leadClient({
    ...(legacy ? { legacyLeadIds: createLegacyLeadIdLookup(stack.db.pool) } : {}),
    temporal: reachable ? stack.temporal : new Client({ connection: unreachable }),
    intakeQueue: queue,
    requestTimeoutMs: 1_000,
  });
}

function forwarder(leads: LeadClient, options: { leaseMs?: number; backlogWarningMs?: number } = {}): IntakeForwarder {
  const started = startIntakeForwarder({
    queue,
    leads,
    pool: stack.db.pool,
    pollMs: 100,
    ...options,
    log: (level, message, fields) => logged.push({ level, message, fields }),
  });
  stops.push(() => started.stop());
  return started;
}

async function queueRow(leadId: string) {
  const { rows } = await stack.db.pool.query<{
    submission: unknown;
    outcome: string | null;
    forwarded: boolean;
    attempts: number;
    last_error: string | null;
  }>(
    `SELECT submission, outcome, forwarded_at IS NOT NULL AS forwarded, attempts, last_error
       FROM lead_intake_queue WHERE lead_id = $1`,
    [leadId],
  );
  return rows[0];
}

async function eventTypes(leadId: string): Promise<string[]> {
  const { rows } = await stack.db.pool.query<{ type: string }>(
    'SELECT type FROM lead_events WHERE lead_id = $1 ORDER BY seq',
    [leadId],
  );
  return rows.map((r) => r.type);
}

describe('the intake queue', () => {
  it('closes its LISTEN connection when stopped, rather than handing it back to the pool', async () => {
    const pool = createPool(stack.db.appUrl, { max: 3 });
    const listening = async () => {
      const { rows } = await stack.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN lead_intake_queue%'`,
      );
      return rows[0]?.n ?? 0;
    };
    const before = await listening();
    const started = startIntakeForwarder({ queue, leads: queuingClient(true), pool, pollMs: 50, log: () => undefined });
    await waitFor(async () => (await listening()) === before + 1, 'the forwarder listening');
    await started.stop();
    // Within two seconds: an idle pooled connection would linger for the pool's idle timeout (10 s).
    await waitFor(async () => (await listening()) === before, 'the LISTEN connection closed', 2_000);
    await pool.end();
  });

  it('accepts a lead while Temporal is away, and the forwarder starts it once Temporal is back', async () => {
    const intake = uniqueIntake('newark-interview-request');
    const accepted = await queuingClient(false).acceptLead(intake, { actor: 'svc:intake-gateway' });
    expect(accepted).toMatchObject({ accepted: true, leadId: expect.any(String) });
    const { leadId } = accepted;
    expect((await queueRow(leadId))?.forwarded).toBe(false);
    // Until its workflow has recorded the intake the lead cannot be read: over HTTP, a 404 that says it is pending.
    const access = await startTestAccess();
    stops.push(() => access.stop());
    const api = await buildApi({
      leads: access.guard(queuingClient(true), stack.db.pool),
      authenticate: access.authenticate,
      checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
      logger: false,
    });
    stops.push(() => api.close());
    const base = (await api.listen({ host: '127.0.0.1', port: 0 })).replace('[::1]', 'localhost');
    const hq = await access.as('hq');
    const pending = await fetch(`${base}/leads/${leadId}`, { headers: hq });
    expect(pending.status).toBe(404);
    expect(pending.headers.get('retry-after')).toBe('1');
    expect(await pending.json()).toMatchObject({ type: 'urn:leadline:problem:lead-pending', leadId });
    const unknown = await fetch(`${base}/leads/${randomUUID()}`, { headers: hq });
    expect(await unknown.json()).toMatchObject({ type: 'urn:leadline:problem:lead-not-found' });
    await expect(queuingClient(true).getLead(leadId)).rejects.toThrow(LeadPendingError);

    // A forwarder that cannot reach Temporal leaves the lead queued, with the reason and no personal data.
    const away = forwarder(queuingClient(false), { backlogWarningMs: 300 });
    await waitFor(async () => ((await queueRow(leadId))?.attempts ?? 0) >= 1, 'a first attempt');
    // Leads waiting longer than the threshold are reported, by count and age only.
    await waitFor(
      () => Promise.resolve(logged.some((l) => l.message === 'accepted leads are waiting for Temporal')),
      'a backlog warning',
    );
    await away.stop();
    expect(logged.find((l) => l.message === 'accepted leads are waiting for Temporal')?.fields).toEqual({
      waiting: expect.any(Number),
      oldestSeconds: expect.any(Number),
    });
    const postponed = await queueRow(leadId);
    expect(postponed).toMatchObject({
      forwarded: false,
      outcome: null,
      last_error: expect.stringMatching(/Unavailable/),
    });
    expect(postponed?.last_error).not.toContain(intake.summary);
    expect(JSON.stringify(logged)).not.toContain(intake.summary);

    forwarder(queuingClient(true));
    await waitFor(async () => (await stack.client.getLead(leadId).catch(() => undefined))?.state.status === 'assigned');
    expect(await eventTypes(leadId)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);
    // The workflow holds the intake now; the queue keeps only the record that the lead was accepted and started.
    expect(await queueRow(leadId)).toMatchObject({ forwarded: true, outcome: 'started', submission: null });
  });

  it('answers a lead sent again as before: the same intake accepted again, another refused, a started one its receipt', async () => {
    const intake = uniqueIntake('hhs-tipline-minor');
    const offline = queuingClient(false);
    const first = await offline.acceptLead(intake, { actor: 'svc:tipline' });
    const again = await offline.acceptLead(intake, { actor: 'svc:tipline' });
    expect(again).toEqual(first);
    await expect(
      offline.acceptLead({ ...intake, summary: 'Another report.' }, { actor: 'svc:tipline' }),
    ).rejects.toThrow(IdempotencyConflictError);

    const online = queuingClient(true);
    forwarder(online);
    await waitFor(async () => (await queueRow(first.leadId))?.forwarded === true, 'the lead forwarded');
    const known = await online.acceptLead(intake, { actor: 'svc:tipline' });
    expect(known).toMatchObject({ accepted: false, leadId: first.leadId, receivedAt: expect.any(String) });
    await expect(
      online.acceptLead({ ...intake, summary: 'Another report.' }, { actor: 'svc:tipline' }),
    ).rejects.toThrow(IdempotencyConflictError);
    expect(await eventTypes(first.leadId)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);
  });

  it('accepts a lead by starting its workflow while PostgreSQL cannot be reached', async () => {
    const endedPool = createPool(stack.db.appUrl, { max: 1 });
    await endedPool.end();
    const awayQueue = createIntakeQueue(endedPool);
    const intake = uniqueIntake('ngo-farmworkers');
    await expect(
      awayQueue.enqueue({
        leadId: randomUUID(),
        intakeDigest: 'x',
        intake: intake as never,
        submittedBy: { actor: 'a', commandId: 'c' },
      }),
    ).resolves.toBe('unavailable');
    const leads = stack.leadClient({
      intakeQueue: awayQueue,
    });
    const accepted = await leads.acceptLead(intake, { actor: 'svc:ngo' });
    expect(accepted).toMatchObject({ accepted: true });
    // Temporal holds it; the worker (whose own pool is fine) records and routes it.
    await waitFor(async () => (await eventTypes(accepted.leadId)).includes('LeadAssigned'), 'the lead routed');
    expect(await queueRow(accepted.leadId)).toBeUndefined();
  });

  it('sets aside a queued lead it cannot read, naming the fields, and forwards the others', async () => {
    const unreadable = randomUUID();
    await withAdmin(stack.db.adminUrl, (admin) =>
      admin.query(
        `INSERT INTO lead_intake_queue (lead_id, intake_digest, submission)
         VALUES ($1, 'digest', '{"intake": {"source": "carrier pigeon", "summary": "Planted Victimname"}}')`,
        [unreadable],
      ),
    );
    const { leadId } = await queuingClient(false).acceptLead(uniqueIntake('hhs-tipline-minor'), { actor: 'svc:x' });
    const claimed = await queue.claim(10, 60_000);
    expect(claimed.map((c) => c.lead.leadId)).toEqual([leadId]);
    const setAside = await queueRow(unreadable);
    expect(setAside).toMatchObject({
      forwarded: false,
      last_error: expect.stringMatching(/^unreadable queued lead: /),
    });
    expect(setAside?.last_error).toContain('intake.source');
    expect(setAside?.last_error).not.toContain('Planted Victimname');
    await queue.settle(leadId, 'started');
  });

  it('starts one workflow for a lead taken twice (two forwarders, or a lease that ran out)', async () => {
    const { leadId } = await queuingClient(false).acceptLead(uniqueIntake('ngo-farmworkers'), { actor: 'svc:ngo' });
    // A lease of 0 lets the second claim take what the first took.
    const [first] = await queue.claim(10, 0);
    const [second] = await queue.claim(10, 0);
    expect([first?.lead.leadId, second?.lead.leadId]).toEqual([leadId, leadId]);
    const online = queuingClient(true);
    const outcomes = await Promise.all([online.startQueuedLead(first!.lead), online.startQueuedLead(second!.lead)]);
    expect(outcomes).toEqual(['started', 'started']);
    await waitFor(async () => (await eventTypes(leadId)).includes('LeadAssigned'), 'the lead routed');
    expect(await eventTypes(leadId)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);
    await queue.settle(leadId, 'started');
  });

  it('asks whether the store holds 1.0.0 ids through indexes that hold only those, reading no table in full', async () => {
    const client = await stack.db.pool.connect();
    try {
      await client.query('BEGIN');
      // As legacyLeadIdsInUse asks it: the plan still reads a table in full only if no index answers the predicate.
      await client.query(LEGACY_LEAD_IDS_PLAN);
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${LEGACY_LEAD_IDS_IN_USE}`);
      const plan = JSON.stringify(rows[0]!['QUERY PLAN']);
      expect(plan).not.toContain('Seq Scan');
      expect(plan).toContain('leads_legacy_id_idx');
      expect(plan).toContain('lead_intake_queue_legacy_id_idx');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('does not send Temporal a submission whose budget went on the intake queue: 503, nothing started', async () => {
    const intake = uniqueIntake('newark-interview-request');
    const leadId = leadIdForKey(`${intake.source}:${intake.externalReference}`, TEST_FINGERPRINT_KEY);
    // The real queue, answering after the client's whole 1 s budget (a database slow to answer).
    const slowQueue: IntakeQueue = {
      ...queue,
      reserve: async (lead) => {
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        return queue.reserve(lead);
      },
    };
    const leads = stack.leadClient({
      intakeQueue: slowQueue,
      requestTimeoutMs: 1_000,
    });
    const started = Date.now();
    const refused = await leads.submitLead(intake, { actor: 'svc:gateway' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect((refused as Error).message).toMatch(/ran out of time before it reached Temporal/);
    expect(Date.now() - started).toBeLessThan(5_000);
    const described = await stack.temporal.workflow
      .getHandle(leadWorkflowId(leadId))
      .describe()
      .then(
        () => 'started',
        (error: unknown) => (error as Error).name,
      );
    expect(described).toBe('WorkflowNotFoundError');
    // With time left, the same submission goes through: the budget, not the queue, refused it.
    const receipt = await queuingClient(true).submitLead(intake, { actor: 'svc:gateway' });
    expect(receipt.leadId).toBe(leadId);
  });

  it('names a keyed lead by an HMAC of its key, and finds a lead 1.0.0 named by the plain hash of it', async () => {
    const intake = uniqueIntake('newark-interview-request');
    const key = `${intake.source}:${intake.externalReference}`;
    const online = queuingClient(true);
    const receipt = await online.submitLead(intake, { actor: 'svc:gateway' });
    expect(receipt.leadId).toBe(leadIdForKey(key, TEST_FINGERPRINT_KEY));
    expect(receipt.leadId).not.toBe(leadIdForKey(key, 'another-secret'));
    expect(receipt.leadId).not.toBe(legacyLeadIdForKey(key));
    expect(receipt.leadId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    // A lead Leadline 1.0.0 queued under the unkeyed id, sent again after the upgrade: the same lead, not a second.
    const older = uniqueIntake('hhs-tipline-minor');
    const olderKey = `${older.source}:${older.externalReference}`;
    const legacyId = legacyLeadIdForKey(olderKey);
    expect(await legacyLeadIdsInUse(stack.db.pool)).toBe(false);
    const offline = queuingClient(false, true);
    const keyed = await offline.acceptLead(older, { actor: 'svc:tipline' });
    // Moved to the id 1.0.0 gave it, as the upgrade would find it: same intake, same digest, sealed under that id.
    const { rows } = await stack.db.pool.query<{ intake_digest: string }>(
      'SELECT intake_digest FROM lead_intake_queue WHERE lead_id = $1',
      [keyed.leadId],
    );
    await withAdmin(stack.db.adminUrl, (admin) =>
      admin.query('DELETE FROM lead_intake_queue WHERE lead_id = $1', [keyed.leadId]),
    );
    await expect(
      queue.enqueue({
        leadId: legacyId,
        intakeDigest: rows[0]!.intake_digest,
        intake: LeadIntake.parse(older),
        submittedBy: { actor: 'svc:tipline', commandId: olderKey },
      }),
    ).resolves.toBe('queued');
    // The API looks for 1.0.0 ids once the store holds one.
    expect(await legacyLeadIdsInUse(stack.db.pool)).toBe(true);
    expect(await offline.acceptLead(older, { actor: 'svc:tipline' })).toEqual({
      accepted: true,
      leadId: legacyId,
      workflowId: leadWorkflowId(legacyId),
    });
    const upgraded = queuingClient(true, true);
    forwarder(upgraded);
    await waitFor(async () => (await queueRow(legacyId))?.forwarded === true, 'the 1.0.0 lead forwarded');
    // Started now, and read from the read model: a synchronous retry gets that lead's receipt.
    await waitFor(async () => (await eventTypes(legacyId)).includes('LeadReceived'), 'the 1.0.0 lead received');
    expect((await upgraded.submitLead(older, { actor: 'svc:tipline' })).leadId).toBe(legacyId);
    expect(await eventTypes(keyed.leadId)).toEqual([]);

    // Started by 1.0.0 in Temporal and in no table yet (its answer lost, its first task not run): Temporal says so.
    const lost = uniqueIntake('hhs-tipline-minor');
    const lostId = legacyLeadIdForKey(`${lost.source}:${lost.externalReference}`);
    const started = await stack.temporal.workflow.start('leadWorkflow', {
      taskQueue: `no-worker-${randomUUID()}`,
      workflowId: leadWorkflowId(lostId),
    });
    try {
      const again = await upgraded.acceptLead(lost, { actor: 'svc:tipline' });
      expect(again.leadId).toBe(lostId);
    } finally {
      await started.terminate('test: a stand-in for a 1.0.0 lead');
      await withAdmin(stack.db.adminUrl, (admin) =>
        admin.query('DELETE FROM lead_intake_queue WHERE lead_id = $1', [lostId]),
      );
    }
  });

  it('refuses a synchronous submission of another intake under the key of a lead still queued', async () => {
    const intake = uniqueIntake('newark-interview-request');
    const { leadId } = await queuingClient(false).acceptLead(intake, { actor: 'svc:gateway' });
    const online = queuingClient(true);
    await expect(online.submitLead({ ...intake, summary: 'Another report.' }, { actor: 'svc:x' })).rejects.toThrow(
      IdempotencyConflictError,
    );
    expect(await eventTypes(leadId)).toEqual([]);
    // The same intake goes ahead; the forwarder then finds the lead started from it.
    await expect(online.submitLead(intake, { actor: 'svc:x' })).resolves.toMatchObject({ leadId });
    forwarder(online);
    await waitFor(async () => (await queueRow(leadId))?.forwarded === true, 'the lead settled');
    expect(await queueRow(leadId)).toMatchObject({ outcome: 'started', submission: null });
    expect((await eventTypes(leadId)).filter((t) => t === 'LeadReceived')).toHaveLength(1);
  });

  it('takes the key for a synchronous submission before its start, so a racing asynchronous one is never answered 202', async () => {
    const intake = uniqueIntake('ngo-farmworkers');
    const leadId = leadIdForKey(`${intake.source}:${intake.externalReference}`, TEST_FINGERPRINT_KEY);
    // No worker polls this task queue: the synchronous submission starts the workflow and waits for the intake to
    // be recorded, as one still starting does, until its deadline; the read model knows nothing of the lead meanwhile.
    const starting = new LeadClient({
      leadIdKey: TEST_FINGERPRINT_KEY,
      temporal: stack.temporal,
      taskQueue: `unworked-${randomUUID()}`,
      policy: stack.policy,
      readModel: createLeadReadModel(stack.db.pool),
      intakeQueue: queue,
      requestTimeoutMs: 1_000,
    });
    try {
      // Sent, and started: the answer is "outcome unknown" (retry with the same key), never "nothing was done".
      await expect(starting.submitLead(intake, { actor: 'svc:direct' })).rejects.toThrow(OutcomeUnknownError);
      expect(await queueRow(leadId)).toMatchObject({ forwarded: true, outcome: 'direct', submission: null });
      // Another intake under the same key, asynchronously: not queued (it would lose to the first when forwarded);
      // Temporal is asked, and answers once the first is recorded (here it cannot, so the caller is told to retry).
      await expect(
        starting.acceptLead({ ...intake, summary: 'Another report under the same key.' }, { actor: 'svc:gateway' }),
      ).rejects.toThrow(OutcomeUnknownError);
      expect(await queueRow(leadId)).toMatchObject({ forwarded: true, outcome: 'direct', submission: null });
      // The same intake, asynchronously, while Temporal is away: the key is this intake's, so it is queued after all
      // (the synchronous attempt may have failed before its start), and the forwarder starts it idempotently.
      await expect(queuingClient(false).acceptLead(intake, { actor: 'svc:gateway' })).resolves.toMatchObject({
        accepted: true,
        leadId,
      });
      expect(await queueRow(leadId)).toMatchObject({ forwarded: false, outcome: null });
      await queue.settle(leadId, 'started');
    } finally {
      await stack.temporal.workflow.getHandle(leadWorkflowId(leadId)).terminate('test over');
    }
  });

  it('settles a queued lead whose key meanwhile started another intake as a conflict, and logs it by id', async () => {
    const intake = uniqueIntake('public-unknown-jurisdiction');
    const { leadId } = await queuingClient(false).acceptLead(intake, { actor: 'svc:public' });
    // The same key, another intake, through the synchronous path while the queued one waits.
    await stack.client.submitLead({ ...intake, summary: 'A different report under the same key.' }, { actor: 'svc:x' });
    forwarder(queuingClient(true));
    await waitFor(async () => (await queueRow(leadId))?.forwarded === true, 'the lead settled');
    expect(await queueRow(leadId)).toMatchObject({ outcome: 'conflict', submission: null });
    expect(logged).toContainEqual({
      level: 'warn',
      message: expect.stringContaining('another intake'),
      fields: { leadId },
    });
    expect(await eventTypes(leadId)).toEqual(expect.arrayContaining(['LeadReceived']));
    expect((await eventTypes(leadId)).filter((t) => t === 'LeadReceived')).toHaveLength(1);
  });
});
