/**
 * Need to know, over real HTTP with real tokens from the real (development) OpenID provider: every route × every
 * role answers as the README's matrix says, a lead outside the caller's offices does not exist for it, every intake
 * read and every refusal has its audit row, and the actor recorded is the token's subject, never a header.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../client/http';
import type { LeadIntakeInput } from '../schemas/intake';
import { externalCommandTypes } from '../schemas/vocabulary';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let api: FastifyInstance;
let base: string;
/** A lead of HSI-NEWARK, one of HSI-GULFCOAST (Houston), and one no office serves (HQ's). */
let newark: string;
let houston: string;
let unassigned: string;

const fixture = (name: string): LeadIntakeInput => ({
  ...sampleIntakeInputs()[name]!,
  externalReference: `${name}-${randomUUID()}`,
});

async function call(method: string, path: string, login: string | null, body?: unknown, headers = {}) {
  const authorization = login === null ? {} : await access.as(login);
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...authorization,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text === '' ? undefined : JSON.parse(text) };
}

async function submitAsHq(name: string): Promise<string> {
  const res = await call('POST', '/leads', 'hq', fixture(name));
  expect(res.status, res.text).toBe(201);
  return res.body.leadId as string;
}

async function auditRows(where: string, params: unknown[]) {
  const { rows } = await stack.db.pool.query<{ actor: string; action: string; outcome: string; detail: unknown }>(
    `SELECT actor, action, outcome, detail FROM audit_log WHERE ${where} ORDER BY id`,
    params,
  );
  return rows;
}

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  access = await startTestAccess();
  api = await buildApi({
    leads: access.guard(stack.client, stack.db.pool),
    authenticate: access.authenticate,
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
  [newark, houston, unassigned] = await Promise.all([
    submitAsHq('newark-interview-request'),
    submitAsHq('hhs-tipline-minor'),
    submitAsHq('public-unknown-jurisdiction'),
  ]);
  // Routing is the workflow's: wait until each lead sits where the matrix expects it.
  await waitFor(async () => (await stack.client.getLead(newark)).state.office === 'HSI-NEWARK', 'newark routed');
  await waitFor(async () => (await stack.client.getLead(houston)).state.office === 'HSI-GULFCOAST', 'houston routed');
  await waitFor(async () => (await stack.client.getLead(unassigned)).state.status === 'validated', 'validated');
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
});

const roles = [
  'hq',
  'auditor',
  'admin',
  'hsi-newark.agent',
  'hsi-newark.supervisor',
  'hsi-newark.sac',
  'hsi-gulfcoast.supervisor',
] as const;

describe('reading a lead: every role × the Newark lead', () => {
  const expected: Record<(typeof roles)[number], { read: number; intake: number }> = {
    hq: { read: 200, intake: 200 },
    auditor: { read: 404, intake: 404 },
    admin: { read: 404, intake: 404 },
    'hsi-newark.agent': { read: 200, intake: 200 },
    'hsi-newark.supervisor': { read: 200, intake: 200 },
    'hsi-newark.sac': { read: 200, intake: 200 },
    'hsi-gulfcoast.supervisor': { read: 404, intake: 404 },
  };
  it.each(roles)('%s', async (login) => {
    const want = expected[login];
    expect((await call('GET', `/leads/${newark}`, login)).status).toBe(want.read);
    expect((await call('GET', `/leads/${newark}/events`, login)).status).toBe(want.read);
    const intake = await call('GET', `/leads/${newark}/intake?purpose=preparing%20the%20interview`, login);
    expect(intake.status, intake.text).toBe(want.intake);
    if (want.intake === 200) expect(intake.body.intake.location.jurisdiction).toBe('US-NJ');
    // A lead outside the caller's scope and one that does not exist answer alike.
    if (want.read === 404) {
      const missing = await call('GET', `/leads/${randomUUID()}`, login);
      expect(Object.keys(missing.body).sort()).toEqual(
        Object.keys((await call('GET', `/leads/${newark}`, login)).body).sort(),
      );
    }
  });

  it('the intake service may submit but not read', async () => {
    const service = { authorization: `Bearer ${await access.serviceToken('intake')}` };
    const submitted = await fetch(`${base}/leads`, {
      method: 'POST',
      headers: { ...service, 'content-type': 'application/json' },
      body: JSON.stringify(fixture('ngo-farmworkers')),
    });
    expect(submitted.status).toBe(201);
    expect((await fetch(`${base}/leads/${newark}`, { headers: service })).status).toBe(404);
    expect((await fetch(`${base}/leads`, { headers: service })).status).toBe(403);
  });

  it('only HQ sees a lead no office serves', async () => {
    expect((await call('GET', `/leads/${unassigned}`, 'hq')).status).toBe(200);
    expect((await call('GET', `/leads/${unassigned}`, 'hsi-newark.supervisor')).status).toBe(404);
  });

  it('an intake read needs a stated purpose', async () => {
    const res = await call('GET', `/leads/${newark}/intake`, 'hq');
    expect(res.status).toBe(400);
    expect(res.body.issues[0].path).toBe('query.purpose');
    // A purpose is stored (sealed): a NUL, or more than 200 characters, is refused with the field named.
    for (const purpose of ['a%00b', 'x'.repeat(201)]) {
      const bad = await call('GET', `/leads/${newark}/intake?purpose=${purpose}`, 'hq');
      expect(bad.status).toBe(400);
      expect(bad.body.issues[0].path).toBe('query.purpose');
    }
  });
});

describe('lists are filtered to the caller’s offices', () => {
  it('a Newark supervisor lists Newark leads only; HQ lists all', async () => {
    const mine = await call('GET', '/leads?limit=500', 'hsi-newark.supervisor');
    expect(mine.status).toBe(200);
    const offices = new Set((mine.body.items as { office: string | null }[]).map((i) => i.office));
    expect([...offices]).toEqual(['HSI-NEWARK']);
    // Asking for another office gives nothing, not that office's leads.
    const theirs = await call('GET', '/leads?office=HSI-GULFCOAST', 'hsi-newark.supervisor');
    expect(theirs.body.items).toEqual([]);
    const all = await call('GET', '/leads?limit=500', 'hq');
    const ids = (all.body.items as { leadId: string }[]).map((i) => i.leadId);
    expect(ids).toEqual(expect.arrayContaining([newark, houston, unassigned]));
  });

  it.each(['auditor', 'admin'])('%s may not list leads (403)', async (login) => {
    expect((await call('GET', '/leads', login)).status).toBe(403);
  });
});

describe('commands: every role × the Newark lead', () => {
  const table: [string, string, unknown, number][] = [
    ['hsi-newark.agent', 'AddNote', { text: 'called the partner' }, 200],
    ['hsi-newark.agent', 'PauseSla', { justification: 'victim stabilisation' }, 403],
    ['hsi-newark.agent', 'CloseLead', { reason: 'no_trafficking_indicators' }, 403],
    ['hsi-newark.supervisor', 'ChangePriority', { priority: 'urgent', reason: 'a minor is named' }, 200],
    ['hsi-newark.supervisor', 'ReassignLead', { office: 'HSI-NEWYORK', reason: 'the victim moved' }, 403],
    ['hsi-gulfcoast.supervisor', 'AddNote', { text: 'not mine' }, 404],
    ['auditor', 'AddNote', { text: 'not mine' }, 404],
    ['admin', 'AddNote', { text: 'not mine' }, 404],
    ['hq', 'AddNote', { text: 'HQ looked' }, 200],
  ];
  it.each(table)('%s sends %s', async (login, type, data, status) => {
    const res = await call('POST', `/leads/${newark}/commands/${type}`, login, { data });
    expect(res.status, res.text).toBe(status);
  });

  it('a Newark supervisor cannot act on a Houston lead, and the refusal is audited', async () => {
    const res = await call('POST', `/leads/${houston}/commands/CloseLead`, 'hsi-newark.supervisor', {
      data: { reason: 'no_trafficking_indicators' },
    });
    expect(res.status).toBe(404);
    const rows = await auditRows('lead_id = $1 AND actor = $2', [houston, 'hsi-newark.supervisor']);
    expect(rows).toEqual([expect.objectContaining({ action: 'CloseLead', outcome: 'refused' })]);
  });

  it('HQ moves a lead across offices', async () => {
    const lead = await submitAsHq('newark-interview-request');
    await waitFor(async () => (await stack.client.getLead(lead)).state.office === 'HSI-NEWARK', 'routed');
    const res = await call('POST', `/leads/${lead}/commands/ReassignLead`, 'hq', {
      data: { office: 'HSI-NEWYORK', reason: 'the victim moved' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.state.office).toBe('HSI-NEWYORK');
  });

  it('the actor recorded is the token’s subject; an X-Actor header is ignored', async () => {
    const res = await call(
      'POST',
      `/leads/${newark}/commands/AddNote`,
      'hsi-newark.agent',
      { data: { text: 'who am I' } },
      { 'x-actor': 'system:routing' },
    );
    expect(res.status).toBe(200);
    const events = await call('GET', `/leads/${newark}/events`, 'hq');
    const last = (events.body.events as { actor: string; type: string }[]).at(-1);
    expect(last).toMatchObject({ type: 'NoteAdded', actor: 'hsi-newark.agent' });
  });
});

describe('what a console needs to show only what works', () => {
  it('GET /me says who the caller is and what its roles may ever do', async () => {
    const me = async (login: string) => {
      const res = await call('GET', '/me', login);
      expect(res.status, res.text).toBe(200);
      return res.body;
    };
    expect(await me('hsi-newark.agent')).toEqual({
      subject: 'hsi-newark.agent',
      roles: ['agent'],
      offices: ['HSI-NEWARK'],
      may: {
        commands: ['RequestInterview', 'RescheduleInterview', 'CompleteInterview', 'AddNote', 'RecordSafety'],
        readIntake: true,
        readAudit: false,
        readReports: false,
        simulatePolicies: false,
        submitLeads: false,
        readPartnerLeads: false,
      },
    });
    const supervisor = await me('hsi-newark.supervisor');
    expect(supervisor).toMatchObject({
      subject: 'hsi-newark.supervisor',
      roles: ['supervisor'],
      offices: ['HSI-NEWARK'],
    });
    expect(supervisor.may).toMatchObject({ readIntake: true, readAudit: false, readReports: true, submitLeads: false });
    expect(supervisor.may.commands).toEqual(expect.arrayContaining(['AssignLead', 'CloseLead', 'AddNote']));
    expect((await me('hq')).may).toMatchObject({ readReports: true, submitLeads: true, readAudit: false });
    expect((await me('hq')).may.commands).toEqual([...externalCommandTypes]);
    expect((await me('auditor')).may).toEqual({
      commands: [],
      readIntake: false,
      readAudit: true,
      readReports: false,
      simulatePolicies: false,
      submitLeads: false,
      readPartnerLeads: false,
    });
    expect((await me('admin')).may).toMatchObject({ commands: [], readReports: true, readIntake: false });
    const service = await fetch(`${base}/me`, {
      headers: { authorization: `Bearer ${await access.serviceToken('intake')}` },
    });
    expect(await service.json()).toMatchObject({ roles: ['intake'], may: { submitLeads: true, commands: [] } });
    expect((await call('GET', '/me', null)).status).toBe(401);
  });

  it('a lead says which of its allowed commands this caller may send, and those others refuse', async () => {
    const lead = await submitAsHq('newark-interview-request');
    await waitFor(async () => (await stack.client.getLead(lead)).state.status === 'assigned', 'routed');
    const agentView = await call('GET', `/leads/${lead}`, 'hsi-newark.agent');
    const supervisorView = await call('GET', `/leads/${lead}`, 'hsi-newark.supervisor');
    const allowed = agentView.body.allowedCommands as string[];
    expect(allowed).toEqual(expect.arrayContaining(['RequestInterview', 'CloseLead', 'PauseSla', 'AddNote']));
    const agentMay = ['RequestInterview', 'AddNote', 'RecordSafety'];
    const sorted = (list: string[]) => [...list].sort();
    expect(sorted(agentView.body.allowedForYou)).toEqual(sorted(allowed.filter((c) => agentMay.includes(c))));
    expect(agentView.body.allowedForYou).toEqual(expect.arrayContaining(agentMay));
    const supervisorMay = [
      ...agentMay,
      ...['ReassignLead', 'CloseLead', 'PauseSla', 'PauseForStabilisation', 'ChangePriority'],
    ];
    // AcknowledgePartner is offered only while the partner is still owed its acknowledgement.
    const supervisorMayNow = [...supervisorMay, 'AcknowledgePartner'];
    expect(sorted(supervisorView.body.allowedForYou)).toEqual(
      sorted(allowed.filter((c) => supervisorMayNow.includes(c))),
    );
    expect(supervisorView.body.allowedForYou).toEqual(expect.arrayContaining(supervisorMay));
    // What the agent is not offered, the API refuses it; what it is offered, it accepts.
    const refused = await call('POST', `/leads/${lead}/commands/PauseSla`, 'hsi-newark.agent', {
      data: { justification: 'victim stabilisation' },
    });
    expect(refused.status).toBe(403);
    const note = await call('POST', `/leads/${lead}/commands/AddNote`, 'hsi-newark.agent', { data: { text: 'ok' } });
    expect(note.status, note.text).toBe(200);
  });

  it('an office outside the directory is bad input (400) for a supervisor too, not a refusal of scope', async () => {
    const lead = await submitAsHq('newark-interview-request');
    await waitFor(async () => (await stack.client.getLead(lead)).state.status === 'assigned', 'routed');
    const res = await call('POST', `/leads/${lead}/commands/ReassignLead`, 'hsi-newark.supervisor', {
      data: { office: 'HSI-NOWHERE', reason: 'typo' },
    });
    expect(res.status, res.text).toBe(400);
    expect(res.body.issues).toEqual([
      { path: 'data.office', message: 'office HSI-NOWHERE is not in the office directory' },
    ]);
  });

  it('mine, agent and lead id filters stay within the caller’s offices', async () => {
    const lead = await submitAsHq('newark-interview-request');
    await waitFor(async () => (await stack.client.getLead(lead)).state.status === 'assigned', 'routed');
    const taken = await call('POST', `/leads/${lead}/commands/ReassignLead`, 'hsi-newark.supervisor', {
      data: { office: 'HSI-NEWARK', agent: 'hsi-newark.agent', reason: 'duty agent takes it' },
    });
    expect(taken.status, taken.text).toBe(200);
    const ids = async (login: string, query: string) => {
      const res = await call('GET', `/leads?limit=500&${query}`, login);
      expect(res.status, res.text).toBe(200);
      return (res.body.items as { leadId: string; agent: string | null }[]).map((i) => i.leadId);
    };
    const mine = await call('GET', '/leads?mine=true&limit=500', 'hsi-newark.agent');
    expect(mine.body.items.map((i: { leadId: string }) => i.leadId)).toContain(lead);
    expect(mine.body.items.every((i: { agent: string }) => i.agent === 'hsi-newark.agent')).toBe(true);
    expect(await ids('hsi-newark.supervisor', 'mine=true')).not.toContain(lead);
    expect(await ids('hsi-newark.supervisor', 'agent=hsi-newark.agent')).toContain(lead);
    expect(await ids('hsi-gulfcoast.supervisor', 'agent=hsi-newark.agent')).toEqual([]);
    expect(await ids('hsi-newark.supervisor', `leadId=${lead.slice(0, 8)}`)).toContain(lead);
    expect(await ids('hsi-gulfcoast.supervisor', `leadId=${lead.slice(0, 8)}`)).toEqual([]);
    expect(await ids('hsi-gulfcoast.supervisor', `leadId=${unassigned.slice(0, 8)}&unassigned=true`)).toEqual([]);
    expect(await ids('hq', `leadId=${unassigned}&unassigned=true`)).toEqual([unassigned]);
  });
});

describe('the audit log', () => {
  it('holds every intake read, with its purpose, and every refusal', async () => {
    await call('GET', `/leads/${newark}/intake?purpose=checking%20the%20address`, 'hsi-newark.agent');
    await call('GET', `/leads/${newark}/intake?purpose=probing`, 'hsi-gulfcoast.supervisor');
    const reads = await auditRows("lead_id = $1 AND action = 'ReadIntake' AND outcome = 'read'", [newark]);
    // The purpose is free text about a victim: sealed in the row, and opened for auditors by GET /audit.
    expect(JSON.stringify(reads)).not.toContain('checking the address');
    const audit = await call('GET', `/audit?leadId=${newark}&actor=hsi-newark.agent&limit=500`, 'auditor');
    expect(audit.body.items).toContainEqual(
      expect.objectContaining({ action: 'ReadIntake', outcome: 'read', detail: { purpose: 'checking the address' } }),
    );
    const refused = await auditRows("lead_id = $1 AND action = 'ReadIntake' AND outcome = 'refused'", [newark]);
    expect(refused.map((r) => r.actor)).toContain('hsi-gulfcoast.supervisor');
  });

  it('is read by auditors only, with filters', async () => {
    expect((await call('GET', '/audit', 'hq')).status).toBe(403);
    const page = await call('GET', `/audit?leadId=${newark}&limit=5`, 'auditor');
    expect(page.status, page.text).toBe(200);
    expect(page.body.items).toHaveLength(5);
    expect(page.body.items.every((r: { leadId: string }) => r.leadId === newark)).toBe(true);
    const next = await call('GET', `/audit?leadId=${newark}&limit=5&cursor=${page.body.nextCursor}`, 'auditor');
    expect(Number(next.body.items[0].id)).toBeLessThan(Number(page.body.items[4].id));
    const byActor = await call('GET', '/audit?actor=hsi-gulfcoast.supervisor', 'auditor');
    expect(byActor.body.items.every((r: { actor: string }) => r.actor === 'hsi-gulfcoast.supervisor')).toBe(true);
  });
});

describe('authentication', () => {
  it('no token: 401 with the RFC 6750 challenge and a problem body; public routes stay open', async () => {
    const res = await call('GET', '/leads', null);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="leadline"');
    expect(res.body).toMatchObject({ type: 'urn:leadline:problem:unauthenticated', status: 401 });
    expect((await call('GET', '/healthz', null)).status).toBe(200);
    expect((await call('GET', '/openapi.json', null)).status).toBe(200);
  });

  it('a bad token: 401 invalid_token, naming the check, never the token', async () => {
    const res = await call('GET', '/leads', null, undefined, { authorization: 'Bearer not.a.token' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="leadline", error="invalid_token"/);
    expect(res.text).not.toContain('not.a.token');
  });

  it('sends security headers', async () => {
    const res = await call('GET', '/healthz', null);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toBeTruthy();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
