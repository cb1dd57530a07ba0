import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeQueue } from '../activities/intake-queue';
import { buildApi } from '../client/http';
import { InvalidInputError } from '../client/errors';
import { leadIdForKey } from '../client/lead-client';
import { workerPollingCheck } from '../client/readiness';
import type { LeadIntakeInput } from '../schemas/intake';
import { UNSTORABLE_TEXT_MESSAGE } from '../schemas/text';
import { leadWorkflowId } from '../workflows/messages';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startTestAccess, type TestAccess } from './support/access';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer, workflowBundle } from './support/temporal';
import { waitFor } from './support/wait';

/*
 * The reproductions of issue 13 over real HTTP: a NUL or a lone surrogate anywhere a caller's text is stored is
 * refused at the edge with the field named, nothing is started or written, and nothing quotes it back.
 */

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let hqToken: string;
let api: FastifyInstance;
let base: string;
const logLines: string[] = [];
const readyQueue = `readyz-${randomUUID()}`;
/** A poll lasts up to this server's long-poll expiry (5 s here, a minute by default): twice that is "recently". */
const READY_RECENT_MS = 10_000;

beforeAll(async () => {
  env = await startDevServer({
    extraArgs: ['--dynamic-config-value', 'matching.longPollExpirationInterval="5s"'],
  });
  stack = await startStack(env);
  access = await startTestAccess();
  hqToken = await access.token('hq');
  const leads = stack.leadClient({
    intakeQueue: createIntakeQueue(stack.db.pool),
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  api = await buildApi({
    leads: access.guard(leads, stack.db.pool),
    authenticate: access.authenticate,
    checks: {
      temporal: async () => {
        await env.connection.workflowService.getSystemInfo({});
      },
      postgres: async () => {
        await stack.db.pool.query('select 1');
      },
      workers: workerPollingCheck({
        connection: env.connection,
        namespace: env.namespace ?? 'default',
        taskQueue: readyQueue,
        recentMs: READY_RECENT_MS,
        cacheMs: 500,
      }),
    },
    logger: pino({ level: 'info' }, sink),
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await access?.stop();
  await api?.close();
  await stack?.stop();
  await env?.teardown();
});

const SECRET = 'Secret Person Q';
const MARK = 'POISON-GOES-HERE';
/** How each poison is written in JSON text: a lone surrogate can only travel as an escape. */
const poisons = { NUL: '\\u0000', 'lone surrogate': '\\ud800' } as const;

/** `value` as JSON text with MARK replaced by a poison's escape, the way a fuzzer would send it. */
function rawJson(value: unknown, poison: string): string {
  const text = JSON.stringify(value);
  expect(text).toContain(MARK);
  return text.replace(MARK, poison);
}

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${hqToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : JSON.parse(text) };
}

/** A request written byte for byte: fetch refuses to send a NUL in a header, as a fuzzer would not. */
async function rawRequest(head: string, body = ''): Promise<{ status: number; text: string; body: unknown }> {
  const { port } = new URL(base);
  const answer = await new Promise<string>((resolve, reject) => {
    let out = '';
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(
        `${head}\r\nHost: localhost\r\nAuthorization: Bearer ${hqToken}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    socket.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
  const [status, ...rest] = answer.split('\r\n\r\n');
  const text = rest.join('\r\n\r\n');
  return { status: Number(status?.split(' ')[1]), text, body: JSON.parse(text) };
}

function expectNamed(
  res: { status: number; text: string; body: unknown },
  path: string,
  message = UNSTORABLE_TEXT_MESSAGE,
) {
  expect(res.status, res.text).toBe(400);
  expect(res.body).toMatchObject({ type: 'urn:leadline:problem:invalid-input', status: 400 });
  expect((res.body as { issues: unknown[] }).issues).toContainEqual({ path, message });
  expect((res.body as { detail: string }).detail).toContain(`${path}: ${message}`);
  expect(res.text).not.toContain(SECRET);
}

async function rowsFor(leadIds: string[]): Promise<Record<string, number>> {
  const count = async (table: string) =>
    (
      await stack.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE lead_id = ANY($1)`, [
        leadIds,
      ])
    ).rows[0]?.n ?? -1;
  return {
    lead_events: await count('lead_events'),
    leads: await count('leads'),
    lead_intake_queue: await count('lead_intake_queue'),
  };
}

async function workflowsStarted(leadIds: string[]): Promise<string[]> {
  const started: string[] = [];
  for (const leadId of leadIds) {
    try {
      await stack.temporal.workflow.getHandle(leadWorkflowId(leadId)).describe();
      started.push(leadId);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  return started;
}

async function submitValid(): Promise<string> {
  const intake = { ...sampleIntakeInputs()['newark-interview-request']!, externalReference: `ok-${randomUUID()}` };
  const res = await call('POST', '/leads', JSON.stringify(intake), { 'x-actor': 'svc:intake-gateway' });
  expect(res.status, res.text).toBe(201);
  return (res.body as { leadId: string }).leadId;
}

async function eventTypes(leadId: string): Promise<string[]> {
  const { rows } = await stack.db.pool.query<{ type: string }>(
    'SELECT type FROM lead_events WHERE lead_id = $1 ORDER BY seq',
    [leadId],
  );
  return rows.map((r) => r.type);
}

describe('poison bytes are refused at the edge', () => {
  it('in any intake field, sync and respond-async: 400 naming the field; nothing queued, started or recorded', async () => {
    const poisonAt: Record<string, (intake: LeadIntakeInput) => void> = {
      summary: (i) => (i.summary = `${SECRET} ${MARK}`),
      'potentialVictims.0.name': (i) => (i.potentialVictims[0]!.name = `${SECRET} ${MARK}`),
      'potentialVictims.1.languages.0': (i) => (i.potentialVictims[1]!.languages = [`v${MARK}`]),
      'potentialVictims.0.safetyConcerns.0': (i) => (i.potentialVictims[0]!.safetyConcerns = [`${SECRET} ${MARK}`]),
      'location.address': (i) => (i.location.address = `${SECRET} ${MARK}`),
      'partner.name': (i) => (i.partner.name = `${SECRET} ${MARK}`),
      externalReference: (i) => (i.externalReference = `REF-${MARK}`),
      'requestedInterview.place': (i) => (i.requestedInterview!.place = `${SECRET} ${MARK}`),
    };
    const leadIds: string[] = [];
    for (const [path, poisonField] of Object.entries(poisonAt)) {
      for (const [name, poison] of Object.entries(poisons)) {
        for (const prefer of [undefined, 'respond-async']) {
          const intake = structuredClone(sampleIntakeInputs()['newark-interview-request']!);
          poisonField(intake);
          const key = `poison-${randomUUID()}`;
          // The API scopes a caller's key by its subject, so one caller's key cannot name another's lead.
          leadIds.push(leadIdForKey(`hq:${key}`, TEST_FINGERPRINT_KEY));
          const res = await call('POST', '/leads', rawJson(intake, poison), {
            'x-actor': 'svc:fuzzer',
            'idempotency-key': key,
            ...(prefer === undefined ? {} : { prefer }),
          });
          expect(res.status, `${path} with a ${name}, ${prefer ?? 'sync'}: ${res.text}`).toBe(400);
          expectNamed(res, path);
        }
      }
    }
    expect(leadIds).toHaveLength(32);
    expect(await rowsFor(leadIds)).toEqual({ lead_events: 0, leads: 0, lead_intake_queue: 0 });
    expect(await workflowsStarted(leadIds)).toEqual([]);
  });

  it('in command data and the commandId: 400 naming the field; nothing recorded, and the lead still takes commands', async () => {
    const leadId = await submitValid();
    const commands: [string, Record<string, unknown>, string][] = [
      ['AddNote', { text: `${SECRET} ${MARK}` }, 'data.text'],
      ['CloseLead', { reason: 'other', note: `${SECRET} ${MARK}` }, 'data.note'],
      ['ChangePriority', { priority: 'urgent', reason: `${SECRET} ${MARK}` }, 'data.reason'],
      ['PauseSla', { justification: `${SECRET} ${MARK}` }, 'data.justification'],
      ['ReassignLead', { office: 'HSI-NEWARK', reason: `${SECRET} ${MARK}` }, 'data.reason'],
      [
        'RequestInterview',
        { scheduledFor: '2026-12-02T15:00:00Z', place: `${SECRET} ${MARK}`, victimSpecialist: true },
        'data.place',
      ],
      ['AcknowledgeEscalation', { note: `${SECRET} ${MARK}` }, 'data.note'],
    ];
    for (const [type, data, path] of commands) {
      for (const poison of Object.values(poisons)) {
        const res = await call('POST', `/leads/${leadId}/commands/${type}`, rawJson({ data }, poison), {
          'x-actor': 'agent:rivera',
        });
        expectNamed(res, path);
      }
    }
    for (const poison of Object.values(poisons)) {
      const body = rawJson({ data: { text: 'fine' }, commandId: `cmd-${MARK}` }, poison);
      expectNamed(await call('POST', `/leads/${leadId}/commands/AddNote`, body), 'commandId');
    }
    const recorded = await eventTypes(leadId);
    for (const type of ['NoteAdded', 'LeadClosed', 'PriorityChanged', 'SlaPaused', 'LeadReassigned']) {
      expect(recorded).not.toContain(type);
    }
    // Not frozen: the next command is recorded at once.
    const note = await call('POST', `/leads/${leadId}/commands/AddNote`, JSON.stringify({ data: { text: 'ok' } }), {
      'x-actor': 'agent:rivera',
    });
    expect(note.status, note.text).toBe(200);
    expect(await eventTypes(leadId)).toContain('NoteAdded');
  });

  it('in the actor header and the Idempotency-Key: 400 naming the header; nothing started', async () => {
    const before = await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM leads');
    const intake = JSON.stringify({
      ...sampleIntakeInputs()['newark-interview-request']!,
      externalReference: `hdr-${randomUUID()}`,
    });
    const actor = await rawRequest(
      'POST /leads HTTP/1.1\r\nContent-Type: application/json\r\nX-Actor: svc:\u0000fuzzer',
      intake,
    );
    expectNamed(actor, 'header.x-actor', 'holds a character a header may not carry (such as a NUL byte)');
    const key = await rawRequest(
      'POST /leads HTTP/1.1\r\nContent-Type: application/json\r\nPrefer: respond-async\r\nIdempotency-Key: k\u0000',
      intake,
    );
    expectNamed(key, 'header.idempotency-key', 'holds a character a header may not carry (such as a NUL byte)');
    const leadId = await submitValid();
    const command = await rawRequest(
      `POST /leads/${leadId}/commands/AddNote HTTP/1.1\r\nContent-Type: application/json\r\nX-Actor: a\u0000b`,
      JSON.stringify({ data: { text: 'hello' } }),
    );
    expectNamed(command, 'header.x-actor', 'holds a character a header may not carry (such as a NUL byte)');
    expect(await eventTypes(leadId)).not.toContain('NoteAdded');
    const after = await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM leads');
    // The one valid lead submitted above, nothing else.
    expect(after.rows[0]?.n).toBe((before.rows[0]?.n ?? 0) + 1);

    // HTTP headers cannot carry a lone surrogate (they are bytes); a caller of the LeadClient can, and is refused.
    const client = stack.leadClient();
    const valid = sampleIntakeInputs()['newark-interview-request']!;
    for (const submit of [{ actor: 'svc:\ud800' }, { actor: 'svc:ok', idempotencyKey: 'k\u0000' }]) {
      await expect(client.submitLead(valid, submit)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(client.acceptLead(valid, submit)).rejects.toBeInstanceOf(InvalidInputError);
    }
    await expect(client.addNote(leadId, { text: 'x' }, { actor: 'a\udc00' })).rejects.toMatchObject({
      issues: [{ path: 'actor', message: UNSTORABLE_TEXT_MESSAGE }],
    });
    await expect(client.addNote(leadId, { text: 'x' }, { actor: 'a', commandId: '\ud800' })).rejects.toMatchObject({
      issues: [{ path: 'commandId', message: UNSTORABLE_TEXT_MESSAGE }],
    });
  });

  it('in the list query: office and cursor answer 400 naming the parameter, not 503 quoting the database', async () => {
    expectNamed(await call('GET', '/leads?office=a%00b'), 'query.office');
    expectNamed(await call('GET', '/leads?cursor=a%00b'), 'query.cursor');
    const huge = Buffer.from('{"o":1e20}').toString('base64url');
    const res = await call('GET', `/leads?cursor=${huge}`);
    expect(res.status, res.text).toBe(400);
    expect((res.body as { issues: { path: string }[] }).issues).toEqual([
      { path: 'cursor', message: 'the cursor is not one this server issued' },
    ]);
    expect(res.text).not.toMatch(/bigint|out of range/);
    // A cursor this server issued still pages.
    const first = await call('GET', '/leads?limit=1');
    expect(first.status).toBe(200);
  });

  it('in the path: a lone surrogate the router cannot decode answers a 400 problem, not the framework’s own error', async () => {
    const res = await call('GET', '/leads/%ED%A0%80');
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({
      type: 'urn:leadline:problem:bad-request',
      detail: 'the request path is not valid UTF-8',
    });
  });

  it('is never logged', () => {
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line).not.toContain(SECRET);
  });
});

describe('a reused commandId', () => {
  it('with another command is refused with 422 and records nothing; the same command again is recorded once', async () => {
    const leadId = await submitValid();
    const send = (type: string, data: unknown, commandId: string) =>
      call('POST', `/leads/${leadId}/commands/${type}`, JSON.stringify({ data, commandId }), {
        'x-actor': 'agent:rivera',
      });
    const commandId = `note-${randomUUID()}`;
    const note = await send('AddNote', { text: 'called the partner' }, commandId);
    expect(note.status, note.text).toBe(200);

    const other = await send('ChangePriority', { priority: 'urgent', reason: 'new information' }, commandId);
    expect(other.status, other.text).toBe(422);
    expect(other.body).toMatchObject({
      type: 'urn:leadline:problem:idempotency-conflict',
      status: 422,
      leadId,
      detail: expect.stringMatching(/commandId was already used on this lead.*use a new commandId/),
    });
    expect(other.text).not.toContain(commandId);
    expect(other.text).not.toContain('called the partner');

    const otherData = await send('AddNote', { text: 'called the partner again' }, commandId);
    expect(otherData.status, otherData.text).toBe(422);

    const retry = await send('AddNote', { text: 'called the partner' }, commandId);
    expect(retry.status, retry.text).toBe(200);

    const types = await eventTypes(leadId);
    expect(types.filter((t) => t === 'NoteAdded')).toHaveLength(1);
    expect(types).not.toContain('PriorityChanged');
    // The ids and digests kept to tell them apart are not published (the first id is the partner's reference).
    const view = await call('GET', `/leads/${leadId}`);
    expect(view.status).toBe(200);
    expect(view.body.state).not.toHaveProperty('recentCommandIds');
    expect(view.body.state).not.toHaveProperty('recentCommandDigests');
    expect(view.text).not.toContain(commandId);
    // Nor does Temporal's history show it: update ids are in clear there, so they carry a hash of it.
    const history = await stack.temporal.workflow.getHandle(`lead-${leadId}`).fetchHistory();
    expect(JSON.stringify(history)).not.toContain(commandId);
  });
});

describe('/readyz', () => {
  it('is 503 while no worker polls the lead task queue, and 200 once one polls again', async () => {
    const ready = async () => (await call('GET', '/readyz')).status === 200;
    const notReady = await call('GET', '/readyz');
    expect(notReady.status, notReady.text).toBe(503);
    expect(notReady.body).toMatchObject({
      title: 'Not ready',
      checks: { temporal: 'ok', postgres: 'ok', workers: 'none polling' },
      detail: 'no worker polls the lead task queue',
    });

    const startWorker = async () => {
      const worker = await Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueue: readyQueue,
        workflowBundle: await workflowBundle(),
      });
      return { worker, running: worker.run() };
    };
    let started = Date.now();
    const first = await startWorker();
    await waitFor(ready, 'ready once a worker polls', 10_000);
    const upMs = Date.now() - started;
    const up = await call('GET', '/readyz');
    expect(up.body).toEqual({ status: 'ok', checks: { temporal: 'ok', postgres: 'ok', workers: 'ok' } });

    const stopped = Date.now();
    first.worker.shutdown();
    await first.running;
    await waitFor(async () => !(await ready()), 'not ready once the worker stopped', READY_RECENT_MS + 10_000);
    const downMs = Date.now() - stopped;

    started = Date.now();
    const second = await startWorker();
    try {
      await waitFor(ready, 'ready again', 10_000);
    } finally {
      second.worker.shutdown();
      await second.running;
    }
    const againMs = Date.now() - started;
    console.info(
      `readyz: 200 ${upMs} ms after a worker started, 503 ${downMs} ms after it stopped, 200 ${againMs} ms after the next`,
    );
  });
});
