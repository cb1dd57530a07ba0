/**
 * The reports over real HTTP, real tokens from the development OpenID provider and a real PostgreSQL: leads with known
 * histories are decided by the domain (decide/evolve under the default policy, at chosen times) and appended through
 * the real event store, which keeps the read model; every report then has exact numbers, by office and in total, and
 * each caller sees only its offices' numbers. Temporal is not started: no report reaches it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessStore } from '../activities/access-store';
import { loadDirectory } from '../activities/directory';
import { createEventStore, type EventEnvelope, type EventStore } from '../activities/event-store';
import { bindKeyring } from '../activities/field-crypto';
import { Keyring } from '../activities/keyring';
import { projectLead } from '../activities/lead-activities';
import { createReportStore } from '../activities/reports';
import type { GuardedLeads } from '../client/guarded-leads';
import { GuardedReports } from '../client/guarded-reports';
import { buildApi } from '../client/http';
import { decide, evolve } from '../domain';
import type { CommandType, LeadCommand, LeadCommandOf } from '../schemas/commands';
import type { LeadState } from '../schemas/lead';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntake } from './support/lead-fixtures';
import { freshDatabase, type FreshDatabase } from './support/postgres';

const H = 3_600_000;
const D = 24 * H;
const policy = defaultSlaPolicy();

let db: FreshDatabase;
let store: EventStore;
let access: TestAccess;
let api: FastifyInstance;
let base: string;

/** This ISO week's Monday, 00:00 UTC; B, the first day of the seeded history, is three weeks before it. */
const W = (() => {
  const now = new Date();
  const day = (now.getUTCDay() + 6) % 7;
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - day);
})();
const B = W - 21 * D;
/** The period the SLA and duration reports are asked for: the first two of those weeks. */
const FROM = new Date(B).toISOString();
const TO = new Date(B + 14 * D).toISOString();
const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A lead's history: commands decided by the domain at the given times, appended through the event store at the end. */
class Lead {
  readonly id = randomUUID();
  private state: LeadState | undefined;
  private readonly events: EventEnvelope[] = [];

  constructor(at: number) {
    this.do('ReceiveLead', at, {
      leadId: this.id,
      // A standard lead (no minor, no imminent danger): 4 h to validate, 24 h to assign, 48 h, 72 h, 7 d.
      intake: { ...sampleIntake('newark-interview-request'), externalReference: `report-${this.id}` },
    });
  }

  do<T extends CommandType>(type: T, at: number, data: LeadCommandOf<T>['data']): this {
    const command = {
      type,
      data,
      metadata: { actor: 'test:reports', at: new Date(at).toISOString(), commandId: randomUUID() },
    } as LeadCommand;
    const decision = decide(command, this.state, policy);
    if (!decision.ok) throw decision.error;
    if (type !== 'ReceiveLead' && decision.events.length === 0) throw new Error(`${type} at ${at} did nothing`);
    for (const event of decision.events) {
      this.state = evolve(this.state, event);
      this.events.push({ eventId: randomUUID(), ...event });
    }
    return this;
  }

  validate(at: number) {
    return this.do('ValidateLead', at, { outcome: 'valid', fingerprint: `fp-${this.id}` });
  }
  assign(at: number, office: string) {
    return this.do('AssignLead', at, { office, routed: false });
  }
  requestInterview(at: number) {
    return this.do('RequestInterview', at, {
      scheduledFor: new Date(at + D).toISOString(),
      place: 'field office',
      // The sample intake's victims need an interpreter: the contact-safety rules want one named.
      interpreterLanguage: 'es',
      victimSpecialist: true,
    });
  }
  checkSla(at: number) {
    return this.do('CheckSla', at, {});
  }

  async save(): Promise<string> {
    await store.append(this.id, 0, this.events);
    return this.id;
  }
}

/*
 * The seeded leads (B is a Monday, three weeks before this week's; times after the lead's receipt unless said):
 *
 * Newark
 *   N1  B: validated 1 h, assigned 2 h, interview requested 1 d, completed 2 d, case opened 3 d: every stage on time.
 *   N2  B: warning and level 1 at 4 h; validated 5 h (late); paused 6 h to 36 h, assigned 50 h (15 h used: on time);
 *       interview requested 99 h (49 h of 48: late). Open, overdue, level 0 in its stage.
 *   N3  Tuesday of last week: validated 1 h, assigned 2 h, warning, levels 1 and 2 at 74 h. Open, overdue, level 2.
 *   N4  B + 7 d: validated 1 h, assigned 2 h, warning and levels 1-3 at 98 h, paused at 99 h. Open, paused, level 3.
 *   N5  3 h ago: validated 2 h ago, assigned 1 h ago. Open, on time.
 *   N7  B + 5 d: paused 1 h, validated 2 h, assigned at 48 h still paused (no time used: on time). Open, paused.
 *   N9  B + 4 d: paused 1 h, validated 10 h (1 h used: on time; the next stage starts paused), resumed at 28 h,
 *       assigned 48 h (20 h used: on time). Open, overdue.
 * Gulf Coast
 *   G1  B - 2 d: warning and levels 1-3 at 8 h (the week before B), validated 10 h, assigned 11 h, interview requested
 *       12 h, completed at B + 3 d (108 h of 72: late), closed B + 13 d (10 d of 7: late).
 *   G2  Wednesday of last week: validated 1 h, assigned 2 h, warning and level 1 at 52 h. Open, overdue, level 1.
 * No office (HQ's alone)
 *   U1  B + 1 d: validated 1 h, closed at 31 h (30 h in assignment: late).
 *   U2  B + 2 d: rejected as a duplicate at 30 min (on time).
 *   U3  B + 7 d: closed at exactly 24 h (validation late).
 *   U4  B + 3 d: made urgent at 30 min (validation budget 1 h), validated at 2 h (late). Open, overdue.
 */
async function seed(): Promise<void> {
  const now = Date.now();
  const n1 = new Lead(B).validate(B + H).assign(B + 2 * H, 'HSI-NEWARK');
  n1.requestInterview(B + D).do('CompleteInterview', B + 2 * D, { outcome: 'victim_identified' });
  n1.do('OpenCase', B + 3 * D, { caseNumber: 'HSI-NWK-2026-0042' });

  const n2 = new Lead(B).checkSla(B + 4 * H).validate(B + 5 * H);
  // A stabilisation pause stops the clock as a pause does.
  n2.do('PauseForStabilisation', B + 6 * H, {
    category: 'medical',
    expectedEnd: new Date(B + 36 * H).toISOString(),
  }).do('ResumeSla', B + 36 * H, {});
  n2.assign(B + 50 * H, 'HSI-NEWARK').requestInterview(B + 99 * H);

  const t3 = W - 6 * D;
  const n3 = new Lead(t3)
    .validate(t3 + H)
    .assign(t3 + 2 * H, 'HSI-NEWARK')
    .checkSla(t3 + 74 * H);

  const t4 = B + 7 * D;
  const n4 = new Lead(t4)
    .validate(t4 + H)
    .assign(t4 + 2 * H, 'HSI-NEWARK')
    .checkSla(t4 + 98 * H);
  n4.do('PauseSla', t4 + 99 * H, { justification: 'victim in hospital' });

  const n5 = new Lead(now - 3 * H).validate(now - 2 * H).assign(now - H, 'HSI-NEWARK');

  const t7 = B + 5 * D;
  const n7 = new Lead(t7).do('PauseSla', t7 + H, { justification: 'victim stabilisation' }).validate(t7 + 2 * H);
  n7.assign(t7 + 48 * H, 'HSI-NEWARK');

  const t9 = B + 4 * D;
  const n9 = new Lead(t9).do('PauseSla', t9 + H, { justification: 'partner asked to wait' }).validate(t9 + 10 * H);
  n9.do('ResumeSla', t9 + 28 * H, {}).assign(t9 + 48 * H, 'HSI-NEWARK');

  const g0 = B - 2 * D;
  const g1 = new Lead(g0)
    .checkSla(g0 + 8 * H)
    .validate(g0 + 10 * H)
    .assign(g0 + 11 * H, 'HSI-GULFCOAST');
  g1.requestInterview(g0 + 12 * H).do('CompleteInterview', B + 3 * D, { outcome: 'victim_declined' });
  g1.do('CloseLead', B + 13 * D, { reason: 'victim_declined' });

  const t2 = W - 5 * D;
  const g2 = new Lead(t2)
    .validate(t2 + H)
    .assign(t2 + 2 * H, 'HSI-GULFCOAST')
    .checkSla(t2 + 52 * H);

  const u1 = new Lead(B + D)
    .validate(B + D + H)
    .do('CloseLead', B + D + 31 * H, { reason: 'referred_to_other_agency' });
  const u2 = new Lead(B + 2 * D).do('ValidateLead', B + 2 * D + H / 2, {
    outcome: 'duplicate',
    fingerprint: 'fp-dup',
    duplicateOf: n1.id,
  });
  const u3 = new Lead(B + 7 * D).do('CloseLead', B + 8 * D, { reason: 'no_trafficking_indicators' });
  const u4 = new Lead(B + 3 * D).do('ChangePriority', B + 3 * D + H / 2, { priority: 'urgent', reason: 'a minor' });
  u4.validate(B + 3 * D + 2 * H);

  for (const lead of [n1, n2, n3, n4, n5, n7, n9, g1, g2, u1, u2, u3, u4]) await lead.save();
}

async function get(path: string, login: string | { authorization: string }) {
  const headers = typeof login === 'string' ? await access.as(login) : login;
  const response = await fetch(`${base}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, text, body: text === '' ? undefined : JSON.parse(text) };
}

beforeAll(async () => {
  db = await freshDatabase();
  bindKeyring(db.pool, Keyring.single(randomBytes(32)));
  store = createEventStore(db.pool, projectLead);
  access = await startTestAccess();
  const directory = await loadDirectory();
  api = await buildApi({
    // The lead routes are not called here; the reports never reach Temporal.
    leads: {} as GuardedLeads,
    reports: new GuardedReports(createReportStore(db.pool), createAccessStore(db.pool), directory.offices),
    authenticate: access.authenticate,
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
  await seed();
});
afterAll(async () => {
  await api?.close();
  await access?.stop();
  await db?.drop();
});

const zeros = { open: 0, overdue: 0, escalated: { level1: 0, level2: 0, level3: 0 }, paused: 0 };
const newarkNow = { open: 6, overdue: 3, escalated: { level1: 0, level2: 1, level3: 1 }, paused: 2 };
const gulfNow = { open: 1, overdue: 1, escalated: { level1: 1, level2: 0, level3: 0 }, paused: 0 };

describe('GET /reports/offices', () => {
  it('counts every office of the directory for HQ, zeros included, in the directory’s order', async () => {
    const res = await get('/reports/offices', 'hq');
    expect(res.status, res.text).toBe(200);
    expect(Math.abs(Date.parse(res.body.generatedAt) - Date.now())).toBeLessThan(60_000);
    expect(res.body.offices).toEqual([
      { office: 'HSI-NEWARK', name: 'HSI Newark (invented example office)', ...newarkNow },
      { office: 'HSI-NEWYORK', name: 'HSI New York (invented example office)', ...zeros },
      { office: 'HSI-LOSANGELES', name: 'HSI Los Angeles (invented example office)', ...zeros },
      { office: 'HSI-GULFCOAST', name: 'HSI Gulf Coast (invented example office)', ...gulfNow },
    ]);
    expect((await get('/reports/offices', 'admin')).body.offices).toEqual(res.body.offices);
  });

  it('shows a supervisor and a SAC their own office only', async () => {
    const newark = await get('/reports/offices', 'hsi-newark.supervisor');
    expect(newark.body.offices).toEqual([
      { office: 'HSI-NEWARK', name: 'HSI Newark (invented example office)', ...newarkNow },
    ]);
    const gulf = await get('/reports/offices', 'hsi-gulfcoast.sac');
    expect(gulf.body.offices).toEqual([
      { office: 'HSI-GULFCOAST', name: 'HSI Gulf Coast (invented example office)', ...gulfNow },
    ]);
  });
});

const stage = (name: string, finished: number, metSla: number) => ({
  stage: name,
  finished,
  metSla,
  share: finished === 0 ? null : metSla / finished,
});

describe('GET /reports/sla', () => {
  const period = `from=${FROM}&to=${TO}`;
  const newark = [
    stage('validation', 5, 4),
    stage('assignment', 5, 5),
    stage('interview_request', 2, 1),
    stage('interview', 1, 1),
    stage('disposition', 1, 1),
  ];
  const gulf = [
    stage('validation', 0, 0),
    stage('assignment', 0, 0),
    stage('interview_request', 0, 0),
    stage('interview', 1, 0),
    stage('disposition', 1, 0),
  ];

  it('counts, for HQ, every stage that ended in the period and those by their deadline, pauses and priority counted', async () => {
    const res = await get(`/reports/sla?${period}`, 'hq');
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      from: FROM,
      to: TO,
      stages: [
        stage('validation', 9, 6),
        stage('assignment', 6, 5),
        stage('interview_request', 2, 1),
        stage('interview', 2, 1),
        stage('disposition', 2, 1),
      ],
    });
    expect((await get(`/reports/sla?${period}&office=HSI-NEWARK`, 'hq')).body.stages).toEqual(newark);
    expect((await get(`/reports/sla?${period}&office=HSI-GULFCOAST`, 'hq')).body.stages).toEqual(gulf);
  });

  it('counts a supervisor’s office only, and nothing of another office it asks for', async () => {
    expect((await get(`/reports/sla?${period}`, 'hsi-newark.supervisor')).body.stages).toEqual(newark);
    expect((await get(`/reports/sla?${period}`, 'hsi-gulfcoast.sac')).body.stages).toEqual(gulf);
    const other = await get(`/reports/sla?${period}&office=HSI-GULFCOAST`, 'hsi-newark.supervisor');
    expect(other.status).toBe(200);
    expect(other.body.stages).toEqual([
      stage('validation', 0, 0),
      stage('assignment', 0, 0),
      stage('interview_request', 0, 0),
      stage('interview', 0, 0),
      stage('disposition', 0, 0),
    ]);
  });

  it('covers the 30 days before now when no period is given', async () => {
    const before = Date.now();
    const res = await get('/reports/sla', 'hq');
    expect(res.status).toBe(200);
    const to = Date.parse(res.body.to);
    expect(to).toBeGreaterThanOrEqual(before - 1000);
    expect(to).toBeLessThanOrEqual(Date.now());
    expect(to - Date.parse(res.body.from)).toBe(30 * D);
    // The last 30 days hold all of Newark's history: N3 and N5 (validated last week and 2 h ago, on time) join N1, N2,
    // N4, N7 and N9.
    const newark = await get('/reports/sla', 'hsi-newark.supervisor');
    expect(newark.body.stages[0]).toEqual(stage('validation', 7, 6));
  });
});

const bucketDays = [1, 2, 3, 5, 7, 14, null];
/** The seven buckets with these counts (missing ones zero). */
const buckets = (counts: number[]) =>
  bucketDays.map((days, index) => ({
    upToMs: days === null ? null : days * D,
    label: days === null ? '> 14 d' : `≤ ${days} d`,
    count: counts[index] ?? 0,
  }));

describe('GET /reports/durations', () => {
  const period = `from=${FROM}&to=${TO}`;

  it('gives HQ the distributions of intake to interview and to decision, with percentiles and buckets', async () => {
    const res = await get(`/reports/durations?${period}`, 'hq');
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      from: FROM,
      to: TO,
      // N1 2 d, G1 5 d.
      intakeToInterview: { count: 2, p50Ms: 3.5 * D, p90Ms: Math.round(4.7 * D), buckets: buckets([0, 1, 0, 1]) },
      // U3 24 h (on the bound: ≤ 1 d), U1 31 h, N1 3 d, G1 15 d; U2's rejection is no decision.
      intakeToDecision: {
        count: 4,
        p50Ms: 51.5 * H,
        p90Ms: Math.round(273.6 * H),
        buckets: buckets([1, 1, 1, 0, 0, 0, 1]),
      },
    });
  });

  it('gives each office its own leads, and nothing of another office', async () => {
    const newark = await get(`/reports/durations?${period}`, 'hsi-newark.supervisor');
    expect(newark.body.intakeToInterview).toEqual({ count: 1, p50Ms: 2 * D, p90Ms: 2 * D, buckets: buckets([0, 1]) });
    expect(newark.body.intakeToDecision).toEqual({ count: 1, p50Ms: 3 * D, p90Ms: 3 * D, buckets: buckets([0, 0, 1]) });
    const gulf = await get(`/reports/durations?${period}&office=HSI-GULFCOAST`, 'hq');
    expect(gulf.body.intakeToDecision).toEqual({
      count: 1,
      p50Ms: 15 * D,
      p90Ms: 15 * D,
      buckets: buckets([0, 0, 0, 0, 0, 0, 1]),
    });
    const other = await get(`/reports/durations?${period}&office=HSI-GULFCOAST`, 'hsi-newark.supervisor');
    const empty = { count: 0, p50Ms: null, p90Ms: null, buckets: buckets([]) };
    expect(other.body).toEqual({ from: FROM, to: TO, intakeToInterview: empty, intakeToDecision: empty });
  });
});

describe('GET /reports/escalations', () => {
  const week = (weeksBefore: number, level1: number, level2: number, level3: number) => ({
    weekStart: isoDate(W - weeksBefore * 7 * D),
    level1,
    level2,
    level3,
  });

  it('counts HQ every escalation per ISO week, every week present, oldest first', async () => {
    const res = await get('/reports/escalations?weeks=4', 'hq');
    expect(res.status, res.text).toBe(200);
    // G1's three, the week before B, fall outside four weeks.
    expect(res.body).toEqual({ weeks: [week(3, 1, 0, 0), week(2, 1, 1, 1), week(1, 2, 1, 0), week(0, 0, 0, 0)] });
    const twelve = await get('/reports/escalations', 'hq');
    expect(twelve.body.weeks).toHaveLength(12);
    expect(twelve.body.weeks[0]).toEqual(week(11, 0, 0, 0));
    expect(twelve.body.weeks.slice(7)).toEqual([week(4, 1, 1, 1), ...res.body.weeks]);
    expect(new Date(`${twelve.body.weeks[0].weekStart}T00:00:00Z`).getUTCDay()).toBe(1);
  });

  it('counts a supervisor’s and a SAC’s own office only', async () => {
    const newark = await get('/reports/escalations?weeks=4', 'hsi-newark.supervisor');
    expect(newark.body.weeks).toEqual([week(3, 1, 0, 0), week(2, 1, 1, 1), week(1, 1, 1, 0), week(0, 0, 0, 0)]);
    const gulf = await get('/reports/escalations?weeks=5', 'hsi-gulfcoast.sac');
    expect(gulf.body.weeks).toEqual([
      week(4, 1, 1, 1),
      week(3, 0, 0, 0),
      week(2, 0, 0, 0),
      week(1, 1, 0, 0),
      week(0, 0, 0, 0),
    ]);
    const other = await get('/reports/escalations?weeks=5&office=HSI-GULFCOAST', 'hsi-newark.supervisor');
    expect(
      other.body.weeks.every(
        (w: { level1: number; level2: number; level3: number }) => w.level1 + w.level2 + w.level3 === 0,
      ),
    ).toBe(true);
  });
});

describe('who may read reports, and what is refused', () => {
  it.each([
    ['hsi-newark.agent', 'the role agent may not read reports; it may list leads'],
    ['auditor', 'the role auditor may not read reports; it may read the audit log'],
  ])('%s gets 403 naming what its roles allow, and the refusal is audited', async (login, detail) => {
    for (const path of ['/reports/offices', '/reports/sla', '/reports/durations', '/reports/escalations']) {
      const res = await get(path, login);
      expect(res.status, path).toBe(403);
      expect(res.body).toMatchObject({ type: 'urn:leadline:problem:forbidden', detail });
      expect(res.text).not.toMatch(/HSI-/);
    }
    const { rows } = await db.pool.query(
      "SELECT outcome, detail ->> 'report' AS report FROM audit_log WHERE actor = $1 AND action = 'ReadReport' ORDER BY id",
      [login],
    );
    expect(rows.map((r) => `${r.outcome} ${r.report}`)).toEqual([
      'refused offices',
      'refused sla',
      'refused durations',
      'refused escalations',
    ]);
  });

  it('an intake service gets 403 too', async () => {
    const service = { authorization: `Bearer ${await access.serviceToken('intake')}` };
    const res = await get('/reports/offices', service);
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe('the role intake may not read reports; it may submit leads');
  });

  it('refuses unknown parameters, bad dates and a period that ends before it starts, naming the field', async () => {
    const cases: [string, string][] = [
      ['/reports/sla?from=2026-01-01T00:00:00Z&bogus=1', 'query.bogus'],
      ['/reports/offices?office=HSI-NEWARK', 'query.office'],
      ['/reports/escalations?week=3', 'query.week'],
      ['/reports/durations?from=yesterday', 'query.from'],
      ['/reports/sla?to=2026-13-01T00:00:00Z', 'query.to'],
      ['/reports/sla?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'query.to'],
      [`/reports/sla?from=${new Date(Date.now() + D).toISOString()}`, 'query.from'],
      ['/reports/escalations?weeks=0', 'query.weeks'],
      ['/reports/escalations?weeks=105', 'query.weeks'],
      ['/reports/sla?office=newark', 'query.office'],
    ];
    for (const [path, field] of cases) {
      const res = await get(path, 'hq');
      expect(res.status, path).toBe(400);
      expect(
        res.body.issues.map((i: { path: string }) => i.path),
        path,
      ).toEqual([field]);
    }
  });

  it('records each report read in the audit log, with its report and parameters, never a lead', async () => {
    await get(`/reports/sla?from=${FROM}&to=${TO}&office=HSI-NEWARK`, 'hsi-newark.supervisor');
    const { rows } = await db.pool.query(
      "SELECT lead_id, outcome, detail FROM audit_log WHERE action = 'ReadReport' AND outcome = 'read' ORDER BY id DESC LIMIT 1",
    );
    expect(rows).toEqual([
      { lead_id: null, outcome: 'read', detail: { report: 'sla', from: FROM, to: TO, office: 'HSI-NEWARK' } },
    ]);
  });

  it('documents the four reports in a valid OpenAPI document', async () => {
    const doc = (await fetch(`${base}/openapi.json`).then((r) => r.json())) as {
      paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
    };
    await SwaggerParser.validate(structuredClone(doc) as never);
    for (const path of ['/reports/offices', '/reports/sla', '/reports/durations', '/reports/escalations']) {
      expect(doc.paths[path]?.get, path).toBeDefined();
    }
    expect(doc.paths['/reports/sla']!.get!.parameters!.map((p) => p.name).sort()).toEqual(['from', 'office', 'to']);
    expect(doc.paths['/reports/escalations']!.get!.parameters!.map((p) => p.name).sort()).toEqual(['office', 'weeks']);
  });
});
