import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldCryptoFor } from '../activities/field-crypto';
import { buildApi } from '../client/http';
import type { LeadIntakeInput } from '../schemas/intake';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

/*
 * A request that reached Temporal but whose answer could not arrive in time is answered 504 outcome-unknown, never
 * 503: the worker is held back, so the update's workflow task cannot run before the LeadClient's short deadline.
 * Once the worker runs, a retry with the same key or commandId gets the recorded result, recorded once.
 */

let env: TestWorkflowEnvironment;
let stack: TestStack;
let api: FastifyInstance;
let base: string;
let access: TestAccess;
let hqToken: string;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env, { deferWorker: true });
  access = await startTestAccess();
  hqToken = await access.token('hq');
  const leads = stack.leadClient({
    // Short, so the test does not wait 15 s for each deadline; long enough for the dev server to take the request.
    requestTimeoutMs: 2_000,
  });
  api = await buildApi({
    leads: access.guard(leads, stack.db.pool),
    authenticate: access.authenticate,
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
});

async function call(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${hqToken}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

function intake(name: string): LeadIntakeInput {
  const fixture = sampleIntakeInputs()[name];
  if (fixture === undefined) throw new Error(`no fixture ${name}`);
  return { ...fixture, externalReference: `${name}-${randomUUID()}` };
}

async function countEvents(leadId: string, where: string, params: unknown[] = []): Promise<number> {
  const { rows } = await stack.db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM lead_events WHERE lead_id = $1 AND ${where}`,
    [leadId, ...params],
  );
  return rows[0]?.n ?? 0;
}

describe('an answer that cannot arrive in time', () => {
  it('is answered 504 outcome-unknown with Retry-After, and a retry with the same key or commandId records once', async () => {
    // A lead whose workflow Temporal holds, with no worker to run it yet (202: started, not recorded).
    const accepted = await call('/leads', intake('ngo-farmworkers'), { prefer: 'respond-async' });
    expect(accepted.status, accepted.text).toBe(202);
    const acceptedId = accepted.body.leadId as string;

    // A synchronous submission: the update-with-start is sent, its task cannot run before the deadline.
    const key = `outcome-unknown-${randomUUID()}`;
    const submission = intake('hhs-tipline-minor');
    const unknownSubmit = await call('/leads', submission, { 'idempotency-key': key });
    expect(unknownSubmit.status, unknownSubmit.text).toBe(504);
    expect(unknownSubmit.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(unknownSubmit.headers.get('retry-after')).toBe('5');
    expect(unknownSubmit.body).toMatchObject({
      type: 'urn:leadline:problem:outcome-unknown',
      status: 504,
      leadId: expect.any(String),
      retryAfterSeconds: 5,
    });
    expect(unknownSubmit.body.detail).toMatch(/same Idempotency-Key/);
    expect(unknownSubmit.text).not.toContain(submission.summary);

    // A command sent without a commandId: the one the LeadClient made up is named, so the caller can retry with it.
    const unknownCommand = await call(`/leads/${acceptedId}/commands/AddNote`, { data: { text: 'first contact' } });
    expect(unknownCommand.status, unknownCommand.text).toBe(504);
    expect(unknownCommand.headers.get('retry-after')).toBe('5');
    const commandId = unknownCommand.body.commandId as string;
    expect(commandId).toMatch(/^[0-9a-f-]{36}$/);
    expect(unknownCommand.body).toMatchObject({ type: 'urn:leadline:problem:outcome-unknown', leadId: acceptedId });
    expect(unknownCommand.body.detail).toContain(commandId);

    stack.startWorker();

    // Retried as told, until the worker has taken the tasks: the recorded result, once.
    let recorded: Awaited<ReturnType<typeof call>> | undefined;
    await waitFor(async () => {
      recorded = await call('/leads', submission, { 'idempotency-key': key });
      return recorded.status === 201;
    }, 'the retried submission answered 201');
    expect(recorded?.body.leadId).toBe(unknownSubmit.body.leadId);
    let noted: Awaited<ReturnType<typeof call>> | undefined;
    await waitFor(async () => {
      noted = await call(`/leads/${acceptedId}/commands/AddNote`, { data: { text: 'first contact' }, commandId });
      return noted.status === 200;
    }, 'the retried command answered 200');

    const leadId = unknownSubmit.body.leadId as string;
    expect(await countEvents(leadId, `type = 'LeadReceived'`)).toBe(1);
    // Command ids are sealed at rest; the keyed digest beside each finds it.
    const digest = fieldCryptoFor(stack.db.pool).digest(commandId);
    expect(await countEvents(acceptedId, `type = 'NoteAdded' AND metadata->>'commandDigest' = $2`, [digest])).toBe(1);
    // And once more: Temporal answers the known update id from its record, nothing is written again.
    expect((await call('/leads', submission, { 'idempotency-key': key })).status).toBe(201);
    expect(
      (await call(`/leads/${acceptedId}/commands/AddNote`, { data: { text: 'first contact' }, commandId })).status,
    ).toBe(200);
    expect(await countEvents(leadId, `type = 'LeadReceived'`)).toBe(1);
    expect(await countEvents(acceptedId, `metadata->>'commandDigest' = $2`, [digest])).toBe(1);
  });
});
