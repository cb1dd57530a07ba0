import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Writable } from 'node:stream';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, freePort } from '../activities/db';
import { loadDirectory } from '../activities/directory';
import { createLeadReadModel } from '../activities/read-model';
import { commandData, externalCommandTypes } from '../schemas/commands';
import { buildApi, type ApiOptions } from '../client/http';
import { LeadClient } from '../client/lead-client';
import type { LeadIntakeInput } from '../schemas/intake';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { waitFor } from './support/wait';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
/** HQ HSTU's token: every office, every command; tests of who may do what are in access.e2e.test.ts. */
let hqToken: string;
let api: FastifyInstance;
let base: string;
/** Every route fastify registered, as `METHOD url`, seen through fastify's initialisation channel. */
const registeredRoutes: string[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  access = await startTestAccess();
  hqToken = await access.token('hq');
  const onInit = (message: unknown) => {
    (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) registeredRoutes.push(`${method} ${route.url}`);
    });
  };
  subscribe('fastify.initialization', onInit);
  try {
    api = await buildApi(apiOptions(stack.client));
  } finally {
    unsubscribe('fastify.initialization', onInit);
  }
  base = await listen(api);
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
});

function apiOptions(leads: LeadClient, overrides: Partial<ApiOptions> = {}): ApiOptions {
  return {
    leads: access.guard(leads, stack.db.pool),
    authenticate: access.authenticate,
    checks: {
      temporal: async () => {
        await env.connection.workflowService.getSystemInfo({});
      },
      postgres: async () => {
        await stack.db.pool.query('select 1');
      },
    },
    logger: false,
    ...overrides,
  };
}

async function listen(app: FastifyInstance): Promise<string> {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return address;
}

/** A fixture made unique, so the duplicate check does not close it as a copy of another test's lead. */
function uniqueIntake(name: string): LeadIntakeInput {
  const intake = sampleIntakeInputs()[name];
  if (intake === undefined) throw new Error(`no fixture ${name}`);
  return { ...intake, externalReference: `${name}-${randomUUID()}` };
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, at = base) {
  const response = await fetch(`${at}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${hqToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text === '' ? undefined : JSON.parse(text) };
}

async function submit(intake: LeadIntakeInput, headers: Record<string, string> = {}): Promise<string> {
  const res = await call('POST', '/leads', intake, { ...headers });
  expect(res.status, res.text).toBe(201);
  return res.body.leadId as string;
}

async function waitForStatus(leadId: string, status: string) {
  await waitFor(async () => (await call('GET', `/leads/${leadId}`)).body?.state?.status === status);
}

async function command(leadId: string, type: string, data: unknown) {
  return call('POST', `/leads/${leadId}/commands/${type}`, { data });
}

async function leadEvents(leadId: string): Promise<string[]> {
  const { rows } = await stack.db.pool.query<{ type: string }>(
    'SELECT type FROM lead_events WHERE lead_id = $1 ORDER BY seq',
    [leadId],
  );
  return rows.map((r) => r.type);
}

/** Strings from an intake that must never leave the API: names, summary, contacts, places. */
function personalData(intake: LeadIntakeInput): string[] {
  return [
    intake.summary,
    intake.partner.name,
    intake.partner.email,
    intake.partner.phone,
    intake.location.address,
    intake.requestedInterview?.place,
    ...intake.potentialVictims.map((v) => v.name),
  ].filter((s): s is string => typeof s === 'string');
}

describe('the HTTP API over a real Temporal dev server and PostgreSQL', () => {
  it('takes a lead from intake to an opened case, and its timeline names every event and no personal data', async () => {
    const intake = sampleIntakeInputs()['newark-interview-request']!;
    const res = await call('POST', '/leads', intake, { 'x-request-id': 'req-e2e-1' });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('req-e2e-1');
    const { leadId, workflowId, receivedAt } = res.body;
    expect(res.headers.get('location')).toBe(`/leads/${leadId}`);
    expect(workflowId).toBe(`lead-${leadId}`);
    expect(Date.parse(receivedAt)).not.toBeNaN();
    // A 201 means the intake is durably recorded already.
    expect((await leadEvents(leadId))[0]).toBe('LeadReceived');

    // Validation and routing are automatic: US-NJ routes to Newark.
    await waitForStatus(leadId, 'assigned');
    const assigned = await call('GET', `/leads/${leadId}`);
    expect(assigned.body).toMatchObject({
      leadId,
      from: 'workflow',
      state: { status: 'assigned', office: 'HSI-NEWARK' },
    });
    expect(assigned.body.allowedCommands).toContain('RequestInterview');

    const requested = await command(leadId, 'RequestInterview', {
      scheduledFor: '2026-12-02T15:00:00Z',
      place: 'Safe house on Example Street',
      interpreterLanguage: 'vi',
      victimSpecialist: true,
    });
    expect(requested.status, requested.text).toBe(200);
    expect(requested.body.state).toMatchObject({
      status: 'interview_requested',
      interview: { interpreterLanguage: 'vi' },
    });
    const completed = await command(leadId, 'CompleteInterview', { outcome: 'victim_identified' });
    expect(completed.status, completed.text).toBe(200);
    const opened = await command(leadId, 'OpenCase', { caseNumber: 'HSI-NWK-2026-0042' });
    expect(opened.status, opened.text).toBe(200);
    expect(opened.body.state).toMatchObject({ status: 'case_opened', caseNumber: 'HSI-NWK-2026-0042' });
    expect(opened.body.allowedCommands).toEqual([]);

    const timeline = await call('GET', `/leads/${leadId}/events`);
    expect(timeline.status).toBe(200);
    expect(timeline.body.leadId).toBe(leadId);
    expect(timeline.body.events.map((e: { type: string }) => e.type)).toEqual([
      'LeadReceived',
      'LeadValidated',
      'LeadAssigned',
      'InterviewRequested',
      'InterviewCompleted',
      'CaseOpened',
    ]);
    expect(timeline.body.events.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(timeline.body.events[3]).toMatchObject({ actor: 'hq', detail: { interpreterLanguage: 'vi' } });
    for (const secret of [...personalData(intake), 'Safe house on Example Street']) {
      expect(timeline.text).not.toContain(secret);
    }

    // A finished lead is read from PostgreSQL, and still carries no personal data. Its workflow ends once the
    // partner's last notice (case opened) is sent, a moment after the answer to OpenCase.
    await waitFor(async () => (await call('GET', `/leads/${leadId}`)).body.from === 'read_model', 'workflow ended');
    const finished = await call('GET', `/leads/${leadId}`);
    expect(finished.body).toMatchObject({ from: 'read_model', state: { status: 'case_opened' }, allowedCommands: [] });
    for (const secret of personalData(intake)) expect(finished.text).not.toContain(secret);
  });

  it('lists exactly the leads that match each filter, overdue first, in pages', async () => {
    const leads = {
      minor: await submit(uniqueIntake('hhs-tipline-minor')), // US-TX: Gulf Coast, urgent
      farm: await submit(uniqueIntake('ngo-farmworkers')), // US-FL: Gulf Coast, standard
      montana: await submit(uniqueIntake('public-unknown-jurisdiction')), // no office serves US-MT
    };
    await waitForStatus(leads.minor, 'assigned');
    await waitForStatus(leads.farm, 'assigned');
    await waitForStatus(leads.montana, 'validated');

    const all = await call('GET', '/leads?limit=500');
    expect(all.status).toBe(200);
    type Item = { leadId: string; status: string; office: string | null; priority: string; overdue: boolean };
    const items = all.body.items as Item[];
    expect(items.map((i) => i.leadId)).toEqual(expect.arrayContaining(Object.values(leads)));
    // Overdue leads come first.
    const firstOnTime = items.findIndex((i) => !i.overdue);
    expect(items.slice(firstOnTime).every((i) => !i.overdue)).toBe(true);

    const ids = async (query: string) => {
      const res = await call('GET', `/leads?limit=500&${query}`);
      expect(res.status, res.text).toBe(200);
      return (res.body.items as Item[]).map((i) => i.leadId).sort();
    };
    const expected = (keep: (i: Item) => boolean) =>
      items
        .filter(keep)
        .map((i) => i.leadId)
        .sort();

    const gulf = await ids('office=HSI-GULFCOAST');
    expect(gulf).toEqual(expected((i) => i.office === 'HSI-GULFCOAST'));
    expect(gulf).toEqual(expect.arrayContaining([leads.minor, leads.farm]));
    expect(gulf).not.toContain(leads.montana);

    const validated = await ids('status=validated');
    expect(validated).toEqual(expected((i) => i.status === 'validated'));
    expect(validated).toContain(leads.montana);
    expect(validated).not.toContain(leads.farm);

    const urgent = await ids('priority=urgent');
    expect(urgent).toEqual(expected((i) => i.priority === 'urgent'));
    expect(urgent).toContain(leads.minor);
    expect(urgent).not.toContain(leads.farm);

    const urgentGulfAssigned = await ids('office=HSI-GULFCOAST&priority=urgent&status=assigned&escalated=false');
    expect(urgentGulfAssigned).toEqual(
      expected((i) => i.office === 'HSI-GULFCOAST' && i.priority === 'urgent' && i.status === 'assigned'),
    );

    // Pages of one cover the same leads in the same order.
    const paged: string[] = [];
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
      const res = await call('GET', `/leads?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(res.status, res.text).toBe(200);
      paged.push(...(res.body.items as Item[]).map((i) => i.leadId));
      cursor = res.body.nextCursor;
      expect(pages).toBeLessThan(items.length + 1);
    }
    expect(paged).toEqual(items.map((i) => i.leadId));

    const badCursor = await call('GET', '/leads?cursor=not-a-cursor');
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.issues).toEqual([expect.objectContaining({ path: 'cursor' })]);
  });

  it('filters by several statuses, agent, unassigned, mine and a lead id prefix, and refuses unknown parameters', async () => {
    const leads = {
      minor: await submit(uniqueIntake('hhs-tipline-minor')), // US-TX: Gulf Coast, urgent
      farm: await submit(uniqueIntake('ngo-farmworkers')), // US-FL: Gulf Coast, standard
      montana: await submit(uniqueIntake('public-unknown-jurisdiction')), // no office serves US-MT
    };
    await waitForStatus(leads.minor, 'assigned');
    await waitForStatus(leads.farm, 'assigned');
    await waitForStatus(leads.montana, 'validated');
    const toAgent = await command(leads.farm, 'ReassignLead', {
      office: 'HSI-GULFCOAST',
      agent: 'hsi-gulfcoast.agent',
      reason: 'duty agent takes it',
    });
    expect(toAgent.status, toAgent.text).toBe(200);
    // HQ's own subject is `hq`: a lead assigned to it is HQ's "mine".
    const toHq = await command(leads.minor, 'ReassignLead', { office: 'HSI-GULFCOAST', agent: 'hq', reason: 'HQ' });
    expect(toHq.status, toHq.text).toBe(200);

    type Item = { leadId: string; status: string; agent: string | null };
    const page = async (query: string) => {
      const res = await call('GET', `/leads?limit=500&${query}`);
      expect(res.status, res.text).toBe(200);
      return res.body.items as Item[];
    };
    const ids = (items: Item[]) => items.map((i) => i.leadId);

    for (const query of [
      'status=assigned,validated',
      'status=assigned&status=validated',
      'status=validated,assigned',
    ]) {
      const items = await page(query);
      expect(ids(items), query).toEqual(expect.arrayContaining([leads.farm, leads.montana, leads.minor]));
      expect(new Set(items.map((i) => i.status))).toEqual(new Set(['assigned', 'validated']));
    }
    expect(ids(await page('status=validated'))).not.toContain(leads.farm);

    const byAgent = await page('agent=hsi-gulfcoast.agent');
    expect(ids(byAgent)).toContain(leads.farm);
    expect(byAgent.every((i) => i.agent === 'hsi-gulfcoast.agent')).toBe(true);
    expect(ids(byAgent)).not.toContain(leads.minor);

    const unassigned = await page('unassigned=true');
    expect(ids(unassigned)).toContain(leads.montana);
    expect(ids(unassigned)).not.toContain(leads.farm);
    expect(unassigned.every((i) => i.agent === null)).toBe(true);
    const held = await page('unassigned=false');
    expect(ids(held)).toEqual(expect.arrayContaining([leads.farm, leads.minor]));
    expect(held.every((i) => i.agent !== null)).toBe(true);

    const mine = await page('mine=true');
    expect(ids(mine)).toEqual([leads.minor]);
    // Filters intersect: mine and another agent is nothing, not either.
    expect(await page('mine=true&agent=hsi-gulfcoast.agent')).toEqual([]);

    for (const prefix of [leads.farm.slice(0, 4), leads.farm.slice(0, 13), leads.farm.slice(0, 13).replace('-', '')]) {
      const found = await page(`leadId=${prefix}`);
      expect(ids(found), prefix).toContain(leads.farm);
      const hex = prefix.replace(/-/g, '');
      expect(found.every((i) => i.leadId.replace(/-/g, '').startsWith(hex))).toBe(true);
    }
    expect(ids(await page(`leadId=${leads.farm.toUpperCase()}`))).toEqual([leads.farm]);

    for (const bad of ['leadId=abc', 'leadId=zzzz', 'leadId=a%20bcd', 'leadId=' + 'a'.repeat(37)]) {
      const res = await call('GET', `/leads?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.issues.map((i: { path: string }) => i.path)).toEqual(['query.leadId']);
    }
    const badStatus = await call('GET', '/leads?status=assigned,Secret%20Person%20Q');
    expect(badStatus.status).toBe(400);
    expect(badStatus.text).not.toContain('Secret');
    expect(badStatus.body.issues).toEqual([
      { path: 'query.status', message: expect.stringMatching(/^status #2 of 2 is not a status/) },
    ]);

    const unknown = await call('GET', '/leads?agnt=hsi-gulfcoast.agent&colour=red&status=assigned');
    expect(unknown.status).toBe(400);
    expect(unknown.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.agnt', 'query.colour']);
    expect(unknown.body.detail).toMatch(/query\.agnt/);
    expect(unknown.body.detail).toMatch(/query\.colour/);
    const unknownIntakeQuery = await call('GET', `/leads/${leads.farm}/intake?purpose=x&why=y`);
    expect(unknownIntakeQuery.status).toBe(400);
    expect(unknownIntakeQuery.body.issues).toEqual([expect.objectContaining({ path: 'query.why' })]);
  });

  it('shows each lead’s next SLA rung and stage budget, in the list and the view alike', async () => {
    const policy = stack.policy;
    const leads = {
      urgent: await submit(uniqueIntake('hhs-tipline-minor')), // assigned: interview_request, urgent 12 h
      standard: await submit(uniqueIntake('public-unknown-jurisdiction')), // validated: assignment, standard 24 h
      paused: await submit(uniqueIntake('ngo-farmworkers')),
      closed: await submit(uniqueIntake('ngo-farmworkers')),
    };
    await waitForStatus(leads.urgent, 'assigned');
    await waitForStatus(leads.standard, 'validated');
    await waitForStatus(leads.paused, 'assigned');
    await waitForStatus(leads.closed, 'assigned');
    expect((await command(leads.paused, 'PauseSla', { justification: 'victim stabilisation' })).status).toBe(200);
    expect((await command(leads.closed, 'CloseLead', { reason: 'no_trafficking_indicators' })).status).toBe(200);

    type Item = {
      leadId: string;
      stageDeadline: string | null;
      nextRung: { rung: string; at: string } | null;
      stageBudgetMs: number | null;
    };
    const list = await call('GET', '/leads?limit=500');
    expect(list.status, list.text).toBe(200);
    const item = (id: string) => (list.body.items as Item[]).find((i) => i.leadId === id)!;

    const budget = (stage: 'interview_request' | 'assignment', priority: 'urgent' | 'standard') =>
      Math.round(policy.stages[stage][priority] / policy.timeScale);
    const expectWarning = (lead: Item, budgetMs: number) => {
      expect(lead.stageBudgetMs).toBe(budgetMs);
      expect(lead.nextRung?.rung).toBe('warning');
      // The warning is due at 75 % of the budget: the row's deadline less a quarter of it.
      const due = Date.parse(lead.stageDeadline!) - (1 - policy.ladder.warningAt) * budgetMs;
      expect(Date.parse(lead.nextRung!.at)).toBe(due);
    };
    expectWarning(item(leads.urgent), budget('interview_request', 'urgent'));
    expectWarning(item(leads.standard), budget('assignment', 'standard'));
    expect(item(leads.paused)).toMatchObject({
      nextRung: null,
      stageBudgetMs: budget('interview_request', 'standard'),
    });
    expect(item(leads.closed)).toMatchObject({ nextRung: null, stageBudgetMs: null });

    for (const id of Object.values(leads)) {
      const view = await call('GET', `/leads/${id}`);
      expect(view.status, view.text).toBe(200);
      expect({ nextRung: view.body.nextRung, stageBudgetMs: view.body.stageBudgetMs }, id).toEqual({
        nextRung: item(id).nextRung,
        stageBudgetMs: item(id).stageBudgetMs,
      });
      // HQ may send everything: what the state allows is what it may press.
      expect(view.body.allowedForYou).toEqual(
        externalCommandTypes.filter((type) => (view.body.allowedCommands as string[]).includes(type)),
      );
    }
  });

  it('refuses an office the directory does not hold (400, naming it); routing never records one', async () => {
    const montana = await submit(uniqueIntake('public-unknown-jurisdiction'));
    const farm = await submit(uniqueIntake('ngo-farmworkers'));
    await waitForStatus(montana, 'validated');
    await waitForStatus(farm, 'assigned');
    // Routing found no office for US-MT: the lead waits for HQ, at no office, rather than at a made-up one.
    expect((await call('GET', `/leads/${montana}`)).body.state).toMatchObject({ status: 'validated', office: null });

    const assign = await command(montana, 'AssignLead', { office: 'HSI-NOWHERE' });
    expect(assign.status, assign.text).toBe(400);
    expect(assign.body.issues).toEqual([
      { path: 'data.office', message: 'office HSI-NOWHERE is not in the office directory' },
    ]);
    expect(assign.body.detail).toContain('HSI-NOWHERE');
    const reassign = await command(farm, 'ReassignLead', { office: 'HSI-NOWHERE', reason: 'moved' });
    expect(reassign.status, reassign.text).toBe(400);
    expect(reassign.body.issues[0].path).toBe('data.office');
    expect(await leadEvents(montana)).toEqual(['LeadReceived', 'LeadValidated']);
    expect(await leadEvents(farm)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);

    // An office of the directory is taken, as before.
    const known = await command(montana, 'AssignLead', { office: 'HSI-NEWYORK' });
    expect(known.status, known.text).toBe(200);
    const offices = (await loadDirectory()).offices.map((office) => office.id);
    const { rows } = await stack.db.pool.query<{ office: string }>(
      'SELECT DISTINCT office FROM leads WHERE office IS NOT NULL',
    );
    expect(offices).toEqual(expect.arrayContaining(rows.map((r) => r.office)));
  });

  it('answers 405 with Allow for a method a path lacks, as a problem; 404 stays for paths that do not exist', async () => {
    const leadId = randomUUID();
    const cases: [string, string, string][] = [
      ['DELETE', `/leads/${leadId}`, 'GET'],
      ['PUT', '/leads', 'GET, POST'],
      ['PATCH', `/leads/${leadId}/commands/AddNote`, 'POST'],
      ['POST', '/me', 'GET'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await call(method, path, method === 'DELETE' ? undefined : {});
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'urn:leadline:problem:method-not-allowed', status: 405, instance: path });
    }
    expect((await call('DELETE', '/nowhere')).status).toBe(404);
    expect((await call('GET', `/leads/${leadId}/nothing`)).status).toBe(404);
  });

  it('refuses submissions past its in-flight limit at once with 429 and Retry-After, starting nothing for them', async () => {
    const leads = stack.leadClient({
      maxSubmissionsInFlight: 2,
    });
    const limited = await buildApi(apiOptions(leads));
    const at = await listen(limited);
    closers.push(() => limited.close());
    const intakes = Array.from({ length: 30 }, () => uniqueIntake('ngo-farmworkers'));
    const count = async () =>
      (await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM leads')).rows[0]!.n;
    const before = await count();
    const answers = await Promise.all(intakes.map((intake) => call('POST', '/leads', intake, {}, at)));
    const refused = answers.flatMap((a, i) => (a.status === 429 ? [i] : []));
    expect(answers.filter((a) => a.status !== 201 && a.status !== 429)).toEqual([]);
    expect(refused.length).toBeGreaterThan(0);
    for (const i of refused) {
      expect(answers[i]!.headers.get('retry-after')).toBe('1');
      expect(answers[i]!.body).toMatchObject({ type: 'urn:leadline:problem:overloaded', status: 429 });
    }
    // Only the admitted submissions made leads; the refused ones, sent again one by one, make theirs.
    expect((await count()) - before).toBe(answers.length - refused.length);
    for (const i of refused) expect((await call('POST', '/leads', intakes[i], {}, at)).status).toBe(201);
    expect((await count()) - before).toBe(intakes.length);
  });

  it('answers 50 concurrent identical submissions with one lead and 50 identical receipts', async () => {
    const intake = { ...uniqueIntake('ngo-farmworkers'), externalReference: undefined };
    const key = `gateway-${randomUUID()}`;
    const before = await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM leads');
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => call('POST', '/leads', intake, { 'idempotency-key': key })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(201));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    const { leadId } = answers[0]!.body;

    const after = await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM leads');
    expect(after.rows[0]!.n - before.rows[0]!.n).toBe(1);
    const received = await stack.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM lead_events WHERE lead_id = $1 AND type = 'LeadReceived'",
      [leadId],
    );
    expect(received.rows[0]!.n).toBe(1);
    // Visibility lags: wait until the run shows, then make sure it is the only one.
    const runs = async () => (await stack.temporal.workflow.count(`WorkflowId = 'lead-${leadId}'`)).count;
    await waitFor(async () => (await runs()) >= 1);
    expect(await runs()).toBe(1);

    // The same key with another intake is a caller's mistake, not a second lead and not the first one's answer.
    const other = await call(
      'POST',
      '/leads',
      { ...intake, summary: 'A different report altogether.' },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(other.body).toMatchObject({ status: 422, leadId });
    expect(other.text).not.toContain('A different report');
  });

  it('answers 202 with Prefer: respond-async once Temporal holds the lead, and records it from there', async () => {
    const intake = uniqueIntake('newark-interview-request');
    const prefer = { prefer: 'respond-async' };
    const accepted = await call('POST', '/leads', intake, prefer);
    expect(accepted.status, accepted.text).toBe(202);
    expect(accepted.headers.get('preference-applied')).toBe('respond-async');
    const { leadId } = accepted.body;
    expect(accepted.body).toEqual({ leadId, workflowId: `lead-${leadId}` });
    expect(accepted.headers.get('location')).toBe(`/leads/${leadId}`);
    expect(accepted.text).not.toContain(intake.summary);

    // Nothing is lost between the 202 and the workflow: the intake is recorded, then validated and routed.
    await waitForStatus(leadId, 'assigned');
    expect(await leadEvents(leadId)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);

    // Sent again, the lead is known: the same answer as without the preference, its receipt.
    const again = await call('POST', '/leads', intake, prefer);
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('preference-applied')).toBeNull();
    expect(again.body).toMatchObject({ leadId, workflowId: `lead-${leadId}`, receivedAt: expect.any(String) });
    const plain = await call('POST', '/leads', intake, {});
    expect(plain.text).toBe(again.text);
    // The same reference with another intake is refused, as without the preference, and so is bad input.
    const other = await call('POST', '/leads', { ...intake, summary: 'Another report.' }, prefer);
    expect(other.status).toBe(422);
    const malformed = await call('POST', '/leads', { ...intake, jurisdiction: 42 }, prefer);
    expect(malformed.status).toBe(400);
    expect(malformed.text).toContain('jurisdiction');
    expect(await leadEvents(leadId)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);
  });

  it('answers bad input with 400 problems that name the field and never echo the body', async () => {
    const intake = uniqueIntake('ngo-farmworkers');
    const { partner: _partner, ...withoutPartner } = intake;
    const invalid = await call('POST', '/leads', {
      ...withoutPartner,
      summary: 'Secret Person Q',
      potentialVictims: [],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(invalid.body).toMatchObject({
      type: expect.any(String),
      title: 'Invalid input',
      status: 400,
      instance: '/leads',
    });
    expect(invalid.body.issues.map((i: { path: string }) => i.path)).toEqual(
      expect.arrayContaining(['partner', 'potentialVictims']),
    );
    expect(invalid.body.detail).toMatch(/partner/);
    expect(invalid.text).not.toContain('Secret Person Q');

    const malformed = await call('POST', '/leads', '{"summary": "Secret Person Q", "source": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({
      title: 'Malformed JSON',
      status: 400,
      detail: expect.stringMatching(/not valid JSON/),
    });
    expect(malformed.text).not.toContain('Secret Person Q');

    const badCommand = await call('POST', `/leads/${randomUUID()}/commands/OpenCase`, { data: { caseNumber: 'x' } });
    expect(badCommand.status).toBe(400);
    expect(badCommand.body.issues).toEqual([
      { path: 'data.caseNumber', message: expect.stringMatching(/case number/) },
    ]);

    const badId = await call('GET', '/leads/not-a-uuid');
    expect(badId.status).toBe(400);
    expect(badId.body.issues).toEqual([expect.objectContaining({ path: 'path.id' })]);

    const badQuery = await call('GET', '/leads?status=lost&limit=0');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['query.limit', 'query.status']);
  });

  it('answers 404 for an unknown lead or route, 409 for a command the status refuses, 413 and 415 for bad bodies', async () => {
    const unknown = randomUUID();
    for (const res of [
      await call('GET', `/leads/${unknown}`),
      await call('GET', `/leads/${unknown}/events`),
      await command(unknown, 'AddNote', { text: 'hello' }),
    ]) {
      expect(res.status, res.text).toBe(404);
      expect(res.body).toMatchObject({
        title: 'Lead not found',
        status: 404,
        detail: expect.stringContaining(unknown),
      });
    }
    const noRoute = await call('GET', '/nowhere?name=Secret');
    expect(noRoute.status).toBe(404);
    expect(noRoute.body).toMatchObject({ status: 404, instance: '/nowhere' });
    expect(noRoute.text).not.toContain('Secret');

    const leadId = await submit(uniqueIntake('ngo-farmworkers'));
    await waitForStatus(leadId, 'assigned');
    const rejected = await command(leadId, 'OpenCase', { caseNumber: 'HSI-MIA-2026-0001' });
    expect(rejected.status).toBe(409);
    expect(rejected.body).toMatchObject({ title: 'Command rejected', status: 409, leadStatus: 'assigned' });
    expect(rejected.body.detail).toMatch(
      /OpenCase is not allowed while the lead is assigned; allowed: .*RequestInterview/,
    );
    expect(rejected.body.allowed).toEqual(expect.arrayContaining(['RequestInterview', 'ReassignLead', 'CloseLead']));
    expect(await leadEvents(leadId)).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned']);

    const huge = { ...uniqueIntake('ngo-farmworkers'), summary: `Secret Person Q ${'x'.repeat(300 * 1024)}` };
    const tooLarge = await call('POST', '/leads', huge);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ title: 'Payload too large', status: 413 });
    expect(tooLarge.text).not.toContain('Secret Person Q');

    const text = await call('POST', '/leads', 'Secret Person Q', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body).toMatchObject({ status: 415, detail: expect.stringMatching(/application\/json/) });
    expect(text.text).not.toContain('Secret Person Q');
  });

  it('answers 503 when PostgreSQL or Temporal cannot be reached', async () => {
    expect((await call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await call('GET', '/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', checks: { temporal: 'ok', postgres: 'ok' } });

    const endedPool = createPool(stack.db.appUrl, { max: 1 });
    await endedPool.end();
    const nowhere = `127.0.0.1:${await freePort()}`;
    const unreachableTemporal = Connection.lazy({ address: nowhere });
    closers.push(() => unreachableTemporal.close());

    const leads = new LeadClient({
      leadIdKey: TEST_FINGERPRINT_KEY,
      temporal: env.client,
      taskQueue: stack.taskQueue,
      policy: stack.policy,
      readModel: createLeadReadModel(endedPool),
    });
    const broken = await buildApi(
      apiOptions(leads, {
        checks: {
          temporal: async () => {
            // Ends by itself, as the real check does: a call still retrying when the connection closes throws uncaught.
            await unreachableTemporal.withDeadline(Date.now() + 1_000, () =>
              unreachableTemporal.workflowService.getSystemInfo({}),
            );
          },
          postgres: async () => {
            await endedPool.query('select 1');
          },
        },
      }),
    );
    closers.push(() => broken.close());
    const brokenBase = await listen(broken);

    const notReady = await call('GET', '/readyz', undefined, {}, brokenBase);
    expect(notReady.status).toBe(503);
    expect(notReady.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(notReady.body).toMatchObject({
      title: 'Not ready',
      status: 503,
      checks: { temporal: 'unreachable', postgres: 'unreachable' },
    });
    expect(notReady.body.detail).toMatch(/Temporal/);
    expect(notReady.body.detail).toMatch(/PostgreSQL/);
    expect((await call('GET', '/healthz', undefined, {}, brokenBase)).status).toBe(200);

    const list = await call('GET', '/leads', undefined, {}, brokenBase);
    expect(list.status).toBe(503);
    expect(list.body).toMatchObject({
      title: 'Service unavailable',
      status: 503,
      detail: expect.stringMatching(/read model/),
    });

    // A submission Temporal cannot take is never answered 202 (or 201): the caller must send it again.
    const offline = new LeadClient({
      leadIdKey: TEST_FINGERPRINT_KEY,
      temporal: new Client({ connection: unreachableTemporal }),
      taskQueue: stack.taskQueue,
      policy: stack.policy,
      readModel: createLeadReadModel(endedPool),
      requestTimeoutMs: 1_000,
    });
    const offlineApi = await buildApi(apiOptions(offline));
    closers.push(() => offlineApi.close());
    const offlineBase = await listen(offlineApi);
    for (const headers of [{ prefer: 'respond-async' }, {}] as Record<string, string>[]) {
      const refused = await call('POST', '/leads', uniqueIntake('ngo-farmworkers'), headers, offlineBase);
      expect([refused.status, refused.body?.title]).toEqual([503, 'Service unavailable']);
    }
    // Nothing could be sent (no connection was ever ready): 503 means nothing was done, not 504 outcome-unknown.
    const unsent = await call(
      'POST',
      `/leads/${randomUUID()}/commands/AddNote`,
      { data: { text: 'never sent' } },
      { 'x-actor': 'agent:rivera' },
      offlineBase,
    );
    expect([unsent.status, unsent.body?.type]).toEqual([503, 'urn:leadline:problem:unavailable']);
    expect(unsent.headers.get('retry-after')).toBeNull();
  });

  it('publishes a valid OpenAPI 3 document naming every route, each command with its own body', async () => {
    const res = await call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    const validated = (await SwaggerParser.validate(structuredClone(doc))) as { openapi?: string };
    expect(validated.openapi).toMatch(/^3\./);

    const apiRoutes = registeredRoutes.filter((r) => !/ \/docs|\/openapi\.json$/.test(r));
    expect(apiRoutes.length).toBeGreaterThan(15);
    for (const route of apiRoutes) {
      const [method, url] = route.split(' ') as [string, string];
      const path = url.replace(/:(\w+)/g, '{$1}');
      expect(doc.paths[path]?.[method.toLowerCase()], `${route} in the OpenAPI document`).toBeDefined();
    }
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect(documented.sort()).toEqual(apiRoutes.sort());

    const bodyOf = (command: string) =>
      doc.paths[`/leads/{id}/commands/${command}`].post.requestBody.content['application/json'].schema;
    expect(bodyOf('OpenCase').properties.data.properties).toHaveProperty('caseNumber');
    expect(bodyOf('AssignLead').properties.data.properties).toHaveProperty('office');
    expect(bodyOf('AssignLead').properties.data.required).toContain('office');

    // The version is the package's; examples look like real values.
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(doc.info.version).toBe(pkg.version);
    const offices = (await loadDirectory()).offices.map((office) => office.id);
    for (const type of externalCommandTypes) {
      const { example } = bodyOf(type);
      expect(example, type).toBeDefined();
      expect(commandData[type].safeParse(example.data).success, type).toBe(true);
      if (typeof example.data.office === 'string') expect(offices).toContain(example.data.office);
    }
    const schemas: Record<string, unknown>[] = [];
    const walk = (value: unknown) => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === 'object') {
        schemas.push(value as Record<string, unknown>);
        Object.values(value).forEach(walk);
      }
    };
    walk(doc.paths);
    walk(doc.components);
    const uuids = schemas.filter((s) => s.format === 'uuid');
    const times = schemas.filter((s) => s.format === 'date-time');
    expect(uuids.length).toBeGreaterThan(5);
    for (const s of uuids) expect(s.example).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const s of times) expect(Number.isNaN(Date.parse(String(s.example)))).toBe(false);
    expect(schemas.filter((s) => s.example === 'string')).toEqual([]);
    expect(doc.components.schemas.LeadSummary.example).toMatchObject({
      office: 'HSI-NEWARK',
      nextRung: { rung: 'warning' },
    });
    const listParameters = (doc.paths['/leads'].get.parameters as { name: string }[]).map((p) => p.name);
    expect(listParameters).toEqual(
      expect.arrayContaining(['status', 'agent', 'unassigned', 'mine', 'leadId', 'office']),
    );
    expect(doc.paths['/me'].get.responses['200']).toBeDefined();

    const ui = await fetch(`${base}/docs`, { redirect: 'follow' });
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger/i);
  });

  it('logs one JSON line per request with its request id, and never a body', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logged = await buildApi(apiOptions(stack.client, { logger: pino({ level: 'info' }, sink) }));
    closers.push(() => logged.close());
    const loggedBase = await listen(logged);

    const intake = uniqueIntake('newark-interview-request');
    const ok = await call('POST', '/leads', intake, { 'x-request-id': 'trace-abc' }, loggedBase);
    expect(ok.status).toBe(201);
    const bad = await call('POST', '/leads?name=Secret', '{"summary": "Secret Person Q",', {}, loggedBase);
    expect(bad.status).toBe(400);
    const invalid = await call('POST', '/leads', { ...intake, potentialVictims: 'Secret Person Q' }, {}, loggedBase);
    expect(invalid.status).toBe(400);

    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const completed = entries.filter((e) => e.msg === 'request completed');
    expect(completed).toHaveLength(3);
    expect(completed[0]).toMatchObject({ reqId: 'trace-abc', method: 'POST', path: '/leads', statusCode: 201 });
    expect(completed[1]).toMatchObject({ method: 'POST', path: '/leads', statusCode: 400 });
    expect(typeof completed[1]!.durationMs).toBe('number');
    expect(completed[1]!.reqId).toBe(bad.headers.get('x-request-id'));
    const all = lines.join('\n');
    for (const secret of [...personalData(intake), 'Secret']) expect(all).not.toContain(secret);
  });
});
