/**
 * A referring partner's token (the development provider's partner service accounts) reads its own lead by its own
 * reference, status facts only, and gets the same 404 for another partner's lead as for an unknown reference; every
 * read and refusal is audited; nobody else reads /partner/leads, and a partner reads nothing under /leads.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessStore } from '../activities/access-store';
import { createPartnerLeadStore } from '../activities/partner-store';
import { buildApi } from '../client/http';
import { GuardedPartnerLeads } from '../client/guarded-partner-leads';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let api: FastifyInstance;
let base: string;
const harborRef = `SH-${randomUUID()}`;
const njspRef = `NJSP-${randomUUID()}`;
let harborLead: string;
let njspLead: string;

async function call(path: string, token: string) {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  return {
    status: response.status,
    text,
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  access = await startTestAccess();
  api = await buildApi({
    leads: access.guard(stack.client, stack.db.pool),
    // The stack's activities fingerprint with this key; the API finds a reference through the same fingerprints.
    partnerLeads: new GuardedPartnerLeads(
      createPartnerLeadStore(stack.db.pool, TEST_FINGERPRINT_KEY),
      createAccessStore(stack.db.pool),
    ),
    authenticate: access.authenticate,
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
  const newark = sampleIntakeInputs()['newark-interview-request']!;
  ({ leadId: harborLead } = await stack.client.submitLead(
    {
      ...newark,
      source: 'ngo',
      externalReference: harborRef,
      partner: { organisation: 'Safe Harbor', name: 'Intake desk', id: 'NGO-SAFE-HARBOR' },
    },
    { actor: 'svc:test' },
  ));
  ({ leadId: njspLead } = await stack.client.submitLead(
    {
      ...newark,
      externalReference: njspRef,
      partner: { ...newark.partner, id: 'NJSP-HTU' },
    },
    { actor: 'svc:test' },
  ));
  for (const leadId of [harborLead, njspLead]) {
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'assigned', 'routed');
  }
  const agent = { actor: 'agent:rivera' };
  await stack.client.command(
    harborLead,
    'RequestInterview',
    {
      scheduledFor: '2026-12-02T15:00:00.000Z',
      place: 'Newark shelter room 4',
      interpreterLanguage: 'vi',
      victimSpecialist: true,
    },
    agent,
  );
  await stack.client.command(harborLead, 'AddNote', { text: 'victim named Ana, agent Rivera' }, agent);
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
});

describe('GET /partner/leads/{reference}', () => {
  it("a partner's token reads its own lead: status facts and times only", async () => {
    const token = await access.serviceToken('partner-safe-harbor');
    const res = await call(`/partner/leads/${encodeURIComponent(harborRef)}`, token);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      reference: harborRef,
      status: 'interview_scheduled',
      interviewHeldAt: null,
      caseOpenedAt: null,
      closed: null,
    });
    expect(typeof res.body?.acknowledgedAt).toBe('string');
    expect(Object.keys(res.body ?? {}).sort()).toEqual(
      [
        'reference',
        'status',
        'receivedAt',
        'acknowledgedAt',
        'acknowledgementDueAt',
        'interviewScheduledAt',
        'interviewHeldAt',
        'caseOpenedAt',
        'closed',
      ].sort(),
    );
    // No office, agent, lead id, note, place or intake data.
    expect(res.text).not.toMatch(/HSI-NEWARK|rivera|Ana|shelter|Safe Harbor|Intake desk|vi"|2026-12-02T15/);
    expect(res.text).not.toContain(harborLead);
  });

  it("another partner's lead answers 404, exactly as an unknown reference does", async () => {
    const token = await access.serviceToken('partner-safe-harbor');
    const other = await call(`/partner/leads/${encodeURIComponent(njspRef)}`, token);
    const unknown = await call(`/partner/leads/NO-SUCH-${randomUUID()}`, token);
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    const shape = (b: Record<string, unknown> | undefined) => ({ ...b, instance: undefined, requestId: undefined });
    expect(shape(other.body)).toEqual(shape(unknown.body));
    expect(other.text).not.toContain(njspRef);
    // Its own partner reads it.
    const njsp = await call(`/partner/leads/${encodeURIComponent(njspRef)}`, await access.serviceToken('partner-njsp'));
    expect(njsp.status, njsp.text).toBe(200);
    expect(njsp.body).toMatchObject({ reference: njspRef, status: 'acknowledged' });
  });

  it('every read and refusal is audited, without the reference', async () => {
    const { rows } = await stack.db.pool.query<{
      actor: string;
      lead_id: string | null;
      outcome: string;
      detail: unknown;
    }>(`SELECT actor, lead_id, outcome, detail FROM audit_log WHERE action = 'ReadPartnerLead' ORDER BY id`);
    expect(rows.filter((r) => r.outcome === 'read').map((r) => r.lead_id)).toEqual([harborLead, njspLead]);
    expect(rows.filter((r) => r.outcome === 'refused')).toHaveLength(2);
    expect(rows.every((r) => r.actor === 'partner-safe-harbor' || r.actor === 'partner-njsp')).toBe(true);
    const audited = JSON.stringify(rows);
    for (const reference of [harborRef, njspRef, 'NO-SUCH-']) expect(audited).not.toContain(reference);
  });

  it('only partners read it; a partner reads nothing under /leads', async () => {
    const hq = await access.token('hq');
    expect((await call(`/partner/leads/${encodeURIComponent(harborRef)}`, hq)).status).toBe(403);
    const partner = await access.serviceToken('partner-safe-harbor');
    expect((await call(`/leads/${harborLead}`, partner)).status).toBe(404);
    expect((await call('/leads', partner)).status).toBe(403);
    // GET /me says so, for a console or an integration to know what to call.
    const me = await call('/me', partner);
    expect(me.body).toMatchObject({ roles: ['partner'], may: { readPartnerLeads: true, commands: [] } });
    expect((await call('/me', hq)).body).toMatchObject({ may: { readPartnerLeads: false, simulatePolicies: true } });
  });
});
