import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessStore } from '../activities/access-store';
import { loadDirectory } from '../activities/directory';
import { SEALED_EVENT_FIELDS } from '../activities/field-crypto';
import { createReportStore } from '../activities/reports';
import { GuardedReports } from '../client/guarded-reports';
import { buildApi } from '../client/http';
import { runCli } from '../client/cli';
import { totals } from '../domain/sla-simulation';
import { defaultSlaPolicyInput } from '../schemas/sla-policy';
import { SIMULATOR_FIELDS, runSimulate, type SimulationReport } from '../admin/simulate';
import { startTestAccess } from './support/access';
import { leadScripts, partnerLeadScripts, seedPolicy, seedSlaHistory, type SeedResult } from './support/sla-history';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startTimeSkippingServer } from './support/temporal';

/*
 * The simulator's self-check on real workflows: 30 leads live through weeks of virtual time on the time-skipping
 * server under `seedPolicy()`, their timers recording the rungs they reach, and 5 more whose partner waits (unrouted
 * partner intakes: see `partnerLeadScripts`), their timers recording the partner ladder's rungs; then
 * `leadline simulate` reads the log and, under the same policy, must find exactly the recorded rungs (stage and
 * partner), lead by lead. The 1,000-lead run is `npm run bench:simulate`.
 */

let env: TestWorkflowEnvironment;
let stack: TestStack;
let dir: string;
let seeded: SeedResult;
const inForce = seedPolicy();

beforeAll(async () => {
  env = await startTimeSkippingServer();
  stack = await startStack(env, { policy: inForce });
  dir = await mkdtemp(join(tmpdir(), 'leadline-simulate-'));
  await writeFile(join(dir, 'in-force.json'), JSON.stringify(inForce));
  seeded = await seedSlaHistory(env, stack.client, [...leadScripts(30, 17, 288), ...partnerLeadScripts(17, 6)]);
}, 600_000);
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function simulate(proposed: unknown, extra: Record<string, string | boolean> = {}) {
  const file = join(dir, `proposed-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(proposed));
  const out: string[] = [];
  const err: string[] = [];
  const code = await runSimulate(
    { DATABASE_URL: stack.db.appUrl },
    { out: (l) => out.push(l), err: (l) => err.push(l) },
    { policy: file, inForce: join(dir, 'in-force.json'), ...extra },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const halved = {
  ...defaultSlaPolicyInput,
  version: 'halved',
  stages: Object.fromEntries(
    Object.entries(inForce.stages).map(([stage, b]) => [stage, { standard: b.standard / 2, urgent: b.urgent / 2 }]),
  ),
};

describe('leadline simulate on a history of real workflows', () => {
  it('under the policy in force gives exactly the rungs the live timers recorded', async () => {
    expect(seeded.leadIds).toHaveLength(35);
    const { code, out, err } = await simulate(halved, { json: true });
    expect(err).not.toMatch(/error/);
    expect(code).toBe(0);
    const report = JSON.parse(out) as SimulationReport;
    expect(report.leads).toBe(35);
    expect(report.selfCheck).toEqual([]);
    expect(report.inForce.rungs).toEqual(report.recorded.rungs);
    expect(report.inForce.breaches).toEqual(report.recorded.breaches);
    expect(report.inForce.partnerRungs).toEqual(report.recorded.partnerRungs);
    expect(report.inForce.partnerLate).toEqual(report.recorded.partnerLate);
    expect(report.leadsOnOtherBudgets).toBe(0);

    // The recorded tally is the log's own count of rung events.
    const { rows } = await stack.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM lead_events WHERE type IN ('SlaWarning', 'LeadEscalated')`,
    );
    const recorded = totals(report.recorded).rungs;
    expect(recorded.warning + recorded.level1 + recorded.level2 + recorded.level3).toBe(rows[0]?.n);
    expect(rows[0]?.n).toBeGreaterThan(10);

    // The partner ladder's recorded tally is the log's count of its rung events, level by level.
    const partner = await stack.db.pool.query<{ level: number; n: number }>(
      `SELECT (data->>'level')::int AS level, count(*)::int AS n FROM lead_events
        WHERE type = 'PartnerAcknowledgementOverdue' GROUP BY 1 ORDER BY 1`,
    );
    const partnerRecorded = totals(report.recorded).partnerRungs;
    expect(partner.rows).toEqual([
      { level: 1, n: partnerRecorded.level1 },
      { level: 2, n: partnerRecorded.level2 },
    ]);
    // The five waiting partners: level 1 for all but the one acknowledged in time, level 2 for the two left longest.
    expect(partnerRecorded).toEqual({ level1: 4, level2: 2 });
    expect(totals(report.recorded).partnerLate).toBe(4);
    // Every partner intake owes the loop; the public tips do not.
    expect(report.leadsWithPartnerClock).toBeGreaterThan(5);
    expect(report.leadsWithPartnerClock).toBeLessThan(35);
  });

  it('under a shorter partner acknowledgement budget raises more partner rungs', async () => {
    const shorter = {
      ...defaultSlaPolicyInput,
      version: 'partner-8h',
      partner: { acknowledgement: { standard: '8h', urgent: '1h' }, ladder: [1, 2] },
    };
    const report = JSON.parse((await simulate(shorter, { json: true })).out) as SimulationReport;
    const [now, then] = [totals(report.inForce), totals(report.proposed)];
    expect(then.partnerRungs.level1 + then.partnerRungs.level2).toBeGreaterThan(
      now.partnerRungs.level1 + now.partnerRungs.level2,
    );
    expect(then.partnerLate).toBeGreaterThanOrEqual(now.partnerLate);
    expect(report.changes).toContain('partner.acknowledgement.standard: 1d 17s → 8h');
    expect(report.selfCheck).toEqual([]);
  });

  it('under budgets halved raises more rungs, and every breach in force is a breach proposed', async () => {
    const report = JSON.parse((await simulate(halved, { json: true })).out) as SimulationReport;
    const [now, then] = [totals(report.inForce), totals(report.proposed)];
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    expect(sum(then.rungs)).toBeGreaterThan(sum(now.rungs));
    for (const stage of Object.keys(now.breaches) as (keyof typeof now.breaches)[]) {
      expect(then.breaches[stage]).toBeGreaterThanOrEqual(now.breaches[stage]);
    }
    expect(report.changes).toContain('stages.assignment.standard: 1d 17s → 12h 8.5s');
  });

  it('prints the comparison per office and rung, the self-check and the run time; draws the SVG', async () => {
    const chart = join(dir, 'chart.svg');
    const { code, out } = await simulate({ ...defaultSlaPolicyInput, version: 'pilot' }, { chart });
    expect(code).toBe(0);
    expect(out).toMatch(/^SLA policy simulation: 35 leads/);
    expect(out).toMatch(/in force: seed-in-force; proposed: pilot/);
    expect(out).toMatch(/OFFICE\s+RUNG\s+RECORDED\s+IN FORCE\s+PROPOSED\s+CHANGE/);
    expect(out).toMatch(/all offices\s+warning\s+\d+/);
    expect(out).toMatch(/partner acknowledgements \(\d+ of 35 leads owe their partner one\)/);
    expect(out).toMatch(/all offices\s+level 1 \(supervisor\)\s+4\s+4\s+\d+/);
    expect(out).toMatch(/self-check: the replay under the policy in force gives the recorded rungs for every lead/);
    expect(out).toMatch(/run time: [\d.]+ ms \(read [\d.]+ ms, replay [\d.]+ ms\)/);
    const svg = await readFile(chart, 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('seed-in-force (in force) vs pilot (proposed)');
  });

  it('counts one office alone, and leads received within a window', async () => {
    const all = JSON.parse((await simulate(halved, { json: true })).out) as SimulationReport;
    const newark = JSON.parse((await simulate(halved, { json: true, office: 'HSI-NEWARK' })).out) as SimulationReport;
    expect(Object.keys(newark.inForce.rungs).every((o) => o === 'HSI-NEWARK')).toBe(true);
    expect(newark.inForce.rungs['HSI-NEWARK']).toEqual(all.inForce.rungs['HSI-NEWARK']);
    const recent = JSON.parse((await simulate(halved, { json: true, since: '1h' })).out) as SimulationReport;
    expect(recent.leads).toBeLessThan(all.leads);
  });

  it('runs as `leadline simulate` with its options, and refuses a missing or bad one', async () => {
    const file = join(dir, 'pilot.json');
    await writeFile(file, JSON.stringify({ ...defaultSlaPolicyInput, version: 'pilot' }));
    const io = () => {
      const out: string[] = [];
      const err: string[] = [];
      return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) } };
    };
    const ok = io();
    const code = await runCli(
      [
        'simulate',
        '--policy',
        file,
        '--in-force',
        join(dir, 'in-force.json'),
        '--as-of',
        '2026-01-01T00:00:00Z',
        '--json',
      ],
      { ...ok.io, env: { DATABASE_URL: stack.db.appUrl } },
    );
    expect(ok.err.join('')).not.toMatch(/error/);
    expect(code).toBe(0);
    const report = JSON.parse(ok.out.join('')) as SimulationReport;
    // As of a day before any lead: none was received yet.
    expect(report.asOf).toBe('2026-01-01T00:00:00.000Z');
    expect(report.leads).toBe(0);
    expect(report.proposedVersion).toBe('pilot');
    const missing = io();
    expect(await runCli(['simulate'], { ...missing.io, env: {} })).toBe(1);
    expect(missing.err.join('')).toMatch(/required option '--policy <file>'/);
    const badInstant = io();
    expect(await runCli(['simulate', '--policy', file, '--as-of', 'yesterday'], { ...badInstant.io, env: {} })).toBe(2);
    expect(badInstant.err.join('')).toMatch(/--as-of: expected an ISO 8601 instant/);
    const future = io();
    const later = ['--as-of', '2099-01-01T00:00:00Z', '--in-force', join(dir, 'in-force.json')];
    expect(
      await runCli(['simulate', '--policy', file, ...later], { ...future.io, env: { DATABASE_URL: stack.db.appUrl } }),
    ).toBe(2);
    expect(future.err.join('')).toMatch(/--as-of: 2099-01-01T00:00:00Z is after the log's last instant/);
  });

  it('refuses a bad policy with the field named, before reading anything', async () => {
    const bad = {
      ...defaultSlaPolicyInput,
      stages: { ...defaultSlaPolicyInput.stages, interview: { standard: '24h', urgent: '72h' } },
    };
    const { code, err } = await simulate(bad);
    expect(code).toBe(2);
    expect(err).toMatch(
      /--policy .*proposed-.*\.json: the SLA policy is not valid:\n\s+stages\.interview: the urgent budget/,
    );
    const noScale = await simulate({ ...defaultSlaPolicyInput, timeScale: undefined });
    expect(noScale.err).toMatch(/timeScale/);
    expect((await simulate(halved, { office: 'newark' })).err).toMatch(/--office: office must be an upper-case/);
    expect((await simulate(halved, { chart: join(dir, 'c.png') })).err).toMatch(/only SVG is drawn/);
  });

  it('reads no sealed field, and prints nothing of an intake', async () => {
    const sealed = new Set(Object.values(SEALED_EVENT_FIELDS).flat());
    expect(SIMULATOR_FIELDS.filter((f) => sealed.has(f))).toEqual([]);
    const { out } = await simulate(halved, { json: true });
    const text = (await simulate(halved)).out;
    for (const sample of Object.values(sampleIntakeInputs())) {
      for (const value of [sample.summary, sample.partner?.name, sample.location.city].filter(Boolean)) {
        expect(out).not.toContain(value);
        expect(text).not.toContain(value);
      }
    }
  });
});

describe('POST /reports/simulations (HQ HSTU, for the console)', () => {
  it('answers what leadline simulate --json prints, for HQ only, and names a bad field', async () => {
    const access = await startTestAccess();
    const api = await buildApi({
      leads: access.guard(stack.client, stack.db.pool),
      reports: new GuardedReports(
        createReportStore(stack.db.pool),
        createAccessStore(stack.db.pool),
        (await loadDirectory()).offices,
        { inForce },
      ),
      authenticate: access.authenticate,
      checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
      logger: false,
    });
    try {
      const base = await api.listen({ host: '127.0.0.1', port: 0 });
      const post = async (login: string, body: unknown) => {
        const response = await fetch(`${base}/reports/simulations`, {
          method: 'POST',
          headers: { ...(await access.as(login)), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const cli = await simulate(halved, { json: true });
      const expected = JSON.parse(cli.out) as SimulationReport;
      const answer = await post('hq', { policy: { ...halved, timeScale: inForce.timeScale } });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const { runTimeMs: _a, ...same } = answer.body;
      const { runTimeMs: _b, ...cliSame } = expected;
      expect(same).toEqual(cliSame);

      // Two at once take turns (one log in memory at a time) and both answer.
      const both = await Promise.all([post('hq', { policy: halved }), post('hq', { policy: halved })]);
      expect(both.map((r) => r.status)).toEqual([200, 200]);
      expect(both[1].body.proposed).toEqual(both[0].body.proposed);

      const refused = await post('hsi-newark.supervisor', { policy: halved });
      expect(refused.status).toBe(403);
      expect(refused.body.detail).toMatch(/may not simulate SLA policies/);

      const bad = await post('hq', {
        policy: { ...halved, stages: { ...halved.stages, interview: { standard: 'soon' } } },
      });
      expect(bad.status).toBe(400);
      expect((bad.body.issues as { path: string }[]).map((i) => i.path)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^body\.policy\.stages\.interview/)]),
      );
      // A NUL or 100,000 characters in the proposal's version are refused at the edge, naming it, before any replay.
      for (const version of ['a\u0000b', 'v'.repeat(100_000)]) {
        const refusedVersion = await post('hq', { policy: { ...halved, version } });
        expect(refusedVersion.status).toBe(400);
        expect((refusedVersion.body.issues as { path: string }[]).map((i) => i.path)).toContain('body.policy.version');
      }
      const { rows } = await stack.db.pool.query<{ actor: string; outcome: string }>(
        `SELECT actor, outcome FROM audit_log WHERE action = 'SimulatePolicy' ORDER BY id`,
      );
      expect(rows).toEqual([
        { actor: 'hq', outcome: 'read' },
        { actor: 'hq', outcome: 'read' },
        { actor: 'hq', outcome: 'read' },
        { actor: 'hsi-newark.supervisor', outcome: 'refused' },
      ]);
    } finally {
      await api.close();
      await access.stop();
    }
  });
});
