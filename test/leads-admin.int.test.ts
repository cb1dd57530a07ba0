import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../activities/db';
import { runCli } from '../client/cli';
import type { LeadIntakeInput } from '../schemas/intake';
import { defaultSlaPolicyInput } from '../schemas/sla-policy';
import { formatDifference, type Difference } from '../admin/differences';
import { rebuildAndCompare } from '../admin/rebuild';
import { verifyOpenLeads } from '../admin/verify';
import { leadWorkflowId } from '../workflows/messages';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { withAdmin } from './support/postgres';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';

const LEADS = 200;
/** Leads being submitted and driven at once. */
const IN_FLIGHT = 20;
/** Leads that end in case_opened (i % 10 = 6) or closed (i % 10 = 7). */
const FINISHED = (LEADS / 10) * 2;

let env: TestWorkflowEnvironment;
let stack: TestStack;

interface Planned {
  index: number;
  leadId: string;
  /** Where validation and routing leave it. */
  settles: 'validated' | 'assigned';
  status: string;
}
const leads: Planned[] = [];
/** Lead by plan (index % 10), for picking one of a kind. */
const ofKind = (kind: number, nth = 0) => leads.filter((l) => l.index % 10 === kind)[nth]!;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  const started = Date.now();
  await createLeads();
  console.info(
    `leads-admin: ${LEADS} leads in mixed states created in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

describe('leads:rebuild and leads:verify on 200 leads in mixed states', () => {
  it('rebuilds the read model equal to the live rows', async () => {
    const started = Date.now();
    const report = await rebuildAndCompare(stack.db.pool, { actor: 'test:admin' });
    const took = Date.now() - started;
    const { rows } = await stack.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM lead_events');
    expect(report).toEqual({ live: LEADS, leads: LEADS, events: rows[0]!.n, movedOn: 0, differences: [] });
    expect(took).toBeLessThan(30_000);
  });

  it('finds the workflow, the read model and the log in agreement for every open lead', async () => {
    const report = await verifyOpenLeads(stack.db.pool, stack.temporal, { taskQueue: stack.taskQueue });
    expect(report.differences).toEqual([]);
    expect(report.checked).toBe(LEADS - FINISHED);
    expect(await openInReadModel()).toBe(LEADS - FINISHED);
  });

  it('names exactly the lead and field of a planted difference, and the CLI prints the same', async () => {
    const assigned = ofKind(2);
    const interviewing = ofKind(4);
    await withAdmin(stack.db.adminUrl, async (admin) => {
      await admin.query('UPDATE leads SET escalation_level = 2 WHERE lead_id = $1', [assigned.leadId]);
      await admin.query(
        `UPDATE leads SET state = jsonb_set(state, '{office}', '"HSI-LOSANGELES"') WHERE lead_id = $1`,
        [interviewing.leadId],
      );
    });

    const report = await verifyOpenLeads(stack.db.pool, stack.temporal, { taskQueue: stack.taskQueue });
    expect(report.checked).toBe(LEADS - FINISHED);
    expect(report.differences).toEqual(planted('read_model', 'log'));

    const cli = await verifyCli();
    expect(cli.code).toBe(1);
    expect(cli.out).toBe(
      [...planted('read_model', 'log').map(formatDifference), `2 differences across ${LEADS - FINISHED} open leads`]
        .map((line) => `${line}\n`)
        .join(''),
    );
    expect(cli.err).toContain('from DATABASE_URL');
    expect(`${cli.out}${cli.err}`).not.toMatch(/Invented Person|passports|motels|Hotline Advocate/);
    const { rows: audit } = await stack.db.pool.query(
      "SELECT actor, outcome, detail FROM audit_log WHERE action = 'VerifyOpenLeads' ORDER BY id DESC LIMIT 1",
    );
    expect(audit[0]).toEqual({
      actor: 'cli:test',
      outcome: 'differences',
      detail: { checked: LEADS - FINISHED, differences: 2 },
    });
  });

  it('rebuild reports the planted rows, repairs them, and verify then finds nothing', async () => {
    const repair = await rebuildAndCompare(stack.db.pool);
    expect(repair.differences).toEqual(planted('live', 'rebuilt'));
    expect(repair.leads).toBe(LEADS);

    const { rows } = await stack.db.pool.query<{ escalation_level: number; office: string }>(
      "SELECT escalation_level, state->>'office' AS office FROM leads WHERE lead_id = ANY($1) ORDER BY escalation_level DESC",
      [[ofKind(2).leadId, ofKind(4).leadId]],
    );
    expect(rows).toEqual([
      { escalation_level: 0, office: 'HSI-NEWARK' },
      { escalation_level: 0, office: 'HSI-NEWARK' },
    ]);
    expect((await verifyOpenLeads(stack.db.pool, stack.temporal, { taskQueue: stack.taskQueue })).differences).toEqual(
      [],
    );
    expect((await rebuildAndCompare(stack.db.pool)).differences).toEqual([]);

    const cli = await verifyCli();
    expect(cli).toMatchObject({ code: 0, out: `0 differences across ${LEADS - FINISHED} open leads\n` });
    const rebuilt = await adminCli('rebuild');
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.out).toContain(`0 differences: the rebuilt read model equals the live one across ${LEADS} leads`);
  });

  it('reports no false difference when leads move on while the rebuild runs', async () => {
    const busy = leads.filter((l) => l.status === 'assigned').slice(0, 30);
    const notes = Promise.all(
      busy.map((l) => stack.client.command(l.leadId, 'AddNote', { text: 'follow-up call made' }, { actor: 'agent:x' })),
    );
    const report = await rebuildAndCompare(stack.db.pool);
    await notes;
    expect(report.movedOn).toBeLessThanOrEqual(busy.length);
    expect(report.differences).toEqual([]);
    expect((await verifyOpenLeads(stack.db.pool, stack.temporal, { taskQueue: stack.taskQueue })).differences).toEqual(
      [],
    );
  });

  it('reports an open lead whose workflow no longer runs', async () => {
    const lead = ofKind(3, 1);
    await stack.temporal.workflow.getHandle(leadWorkflowId(lead.leadId)).terminate('test: lost workflow');
    const report = await verifyOpenLeads(stack.db.pool, stack.temporal, { taskQueue: stack.taskQueue });
    expect(report.checked).toBe(LEADS - FINISHED);
    expect(report.differences).toEqual([
      {
        leadId: lead.leadId,
        views: ['workflow', 'log'],
        field: 'execution',
        values: ['TERMINATED', 'open (assigned)'],
      },
    ]);
  });

  it('refuses, creating nothing, where no Leadline database exists', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'leadline-empty-'));
    const port = await freePort();
    const { DATABASE_URL: _url, ...rest } = process.env;
    const policy = join(mkdtempSync(join(tmpdir(), 'leadline-policy-')), 'proposed.json');
    writeFileSync(policy, JSON.stringify({ ...defaultSlaPolicyInput, version: 'proposed' }));
    // verify needs Temporal too and may say that first; simulate reads the log alone.
    const cases: [string[], RegExp][] = [
      [['verify'], /does not answer|no Leadline database here/],
      [['simulate', '--policy', policy], /no Leadline database here: nothing answers on 127\.0\.0\.1:\d+/],
    ];
    for (const [args, refusal] of cases) {
      const err: string[] = [];
      const code = await runCli(['--actor', 'cli:test', ...args], {
        out: () => undefined,
        err: (line) => err.push(line),
        env: {
          ...rest,
          LEADLINE_DATA_DIR: dataDir,
          EMBEDDED_POSTGRES_PORT: String(port),
          LEADLINE_PAYLOAD_KEY: randomBytes(32).toString('base64'),
        },
      });
      expect(code, args[0]).toBe(2);
      expect(err.join(''), args[0]).toMatch(refusal);
      expect(readdirSync(dataDir), args[0]).toEqual([]);
    }
  });

  it('says how to start Temporal when nothing answers', async () => {
    const cli = await adminCli('verify', { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
    expect(cli.code).toBe(2);
    expect(cli.err).toMatch(/start Leadline with npm start first, or set TEMPORAL_ADDRESS/);
  });
});

/** The two rows the planting test changed, as the views name them, in the tools' order (by lead id). */
function planted(views: 'read_model' | 'live', reference: 'log' | 'rebuilt'): Difference[] {
  const differences: Difference[] = [
    { leadId: ofKind(2).leadId, views: [views, reference], field: 'escalation_level', values: ['2', '0'] },
    {
      leadId: ofKind(4).leadId,
      views: [views, reference],
      field: 'state.office',
      values: ['HSI-LOSANGELES', 'HSI-NEWARK'],
    },
  ];
  return differences.sort((a, b) => (a.leadId < b.leadId ? -1 : 1));
}

async function verifyCli() {
  return adminCli('verify');
}

/** `leadline --actor cli:test <command>`, connected as the scripts would be through the environment. */
async function adminCli(command: 'verify' | 'rebuild', overrides: Record<string, string> = {}) {
  // The stack's worker encrypts payloads with a key of its own; the CLI reads it as LEADLINE_PAYLOAD_KEY.
  const key = (stack.payloadCodec as unknown as { key: Buffer }).key;
  expect(key).toHaveLength(32);
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--actor', 'cli:test', command], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: {
      ...process.env,
      DATABASE_URL: stack.db.appUrl,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      LEADLINE_TASK_QUEUE: stack.taskQueue,
      LEADLINE_PAYLOAD_KEY: key.toString('base64'),
      ...overrides,
    },
  });
  return { code, out: out.join(''), err: err.join('') };
}

async function openInReadModel(): Promise<number> {
  const { rows } = await stack.db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM leads WHERE status NOT IN ('case_opened', 'closed')",
  );
  return rows[0]!.n;
}

/**
 * 200 leads, ten plans: unrouted (US-MT) left validated, with and without a note and a pause; assigned;
 * assigned with notes; interview requested; interview completed; case opened; closed; paused; reassigned with
 * a priority change. Twenty in flight at a time.
 */
async function createLeads() {
  const samples = sampleIntakeInputs();
  const run = randomUUID();
  const intakeFor = (i: number): LeadIntakeInput => {
    switch (i % 10) {
      case 0:
      case 1: {
        const s = samples['public-unknown-jurisdiction']!;
        return { ...s, summary: `${s.summary} Report ${i}.` };
      }
      case 3:
      case 7: {
        const s = samples['ngo-farmworkers']!;
        return { ...s, summary: `${s.summary} Visit ${i}.` };
      }
      case 8:
      case 9:
        return { ...samples['hhs-tipline-minor']!, externalReference: `HHS-TL-${run.slice(0, 8)}-${i}` };
      default:
        return { ...samples['newark-interview-request']!, externalReference: `NJSP-${run.slice(0, 8)}-${i}` };
    }
  };

  const actor = { actor: 'agent:rivera' };
  const interview = {
    scheduledFor: '2026-12-02T15:00:00.000Z',
    place: 'field office',
    interpreterLanguage: 'vi',
    victimSpecialist: true,
  };
  const drive = async (lead: Planned) => {
    const { leadId, index } = lead;
    const c = stack.client;
    switch (index % 10) {
      case 1:
        await c.command(leadId, 'AddNote', { text: 'waiting on the jurisdiction' }, actor);
        await c.command(leadId, 'PauseSla', { justification: 'victim stabilisation' }, actor);
        break;
      case 3:
        await c.command(leadId, 'AddNote', { text: 'outreach visit planned' }, actor);
        await c.command(leadId, 'AddNote', { text: 'interpreter booked' }, actor);
        break;
      case 4:
        await c.command(leadId, 'RequestInterview', interview, actor);
        lead.status = 'interview_requested';
        break;
      case 5:
      case 6:
        await c.command(leadId, 'RequestInterview', interview, actor);
        await c.command(leadId, 'CompleteInterview', { outcome: 'victim_identified' }, actor);
        lead.status = 'interview_completed';
        if (index % 10 === 6) {
          const caseNumber = `HSI-NWK-2026-${String(index).padStart(4, '0')}`;
          await c.command(leadId, 'OpenCase', { caseNumber }, { actor: 'supervisor:okafor' });
          lead.status = 'case_opened';
        }
        break;
      case 7:
        await c.command(leadId, 'CloseLead', { reason: 'no_trafficking_indicators' }, { actor: 'supervisor:okafor' });
        lead.status = 'closed';
        break;
      case 8:
        await c.command(leadId, 'PauseSla', { justification: 'victim in hospital' }, actor);
        break;
      case 9:
        await c.command(
          leadId,
          'ReassignLead',
          { office: 'HSI-NEWYORK', agent: 'ny-agent-7', reason: 'victim moved' },
          actor,
        );
        await c.command(leadId, 'ChangePriority', { priority: 'standard', reason: 'victim safe' }, actor);
        await c.command(leadId, 'AddNote', { text: 'handed over' }, actor);
        break;
      default:
        break;
    }
  };
  const lifecycle = async (index: number) => {
    const { leadId } = await stack.client.submitLead(intakeFor(index), {
      actor: 'svc:intake',
      idempotencyKey: `admin-${run}-${index}`,
    });
    const settles = index % 10 <= 1 ? 'validated' : 'assigned';
    const lead: Planned = { index, leadId, settles, status: settles };
    leads[index] = lead;
    // Validation and routing are the workflow's own steps, after the submission answers. The workflow, not
    // the read model, must have applied them: it takes a command only once it has.
    await untilWorkflowStatus(leadId, settles);
    await drive(lead);
  };
  await inParallel(
    Array.from({ length: LEADS }, (_, index) => index),
    IN_FLIGHT,
    lifecycle,
  );
  await waitForStatuses(leads.map((l) => [l.leadId, l.status]));
}

/** Runs `work` over `items` with `lanes` of them in flight at a time. */
async function inParallel<T>(items: T[], lanes: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function untilWorkflowStatus(leadId: string, status: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while ((await stack.client.getLead(leadId)).state.status !== status) {
    if (Date.now() > until) throw new Error(`lead ${leadId} did not reach ${status} in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForStatuses(expected: [string, string][], timeoutMs = 60_000) {
  const want = new Map(expected);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await stack.db.pool.query<{ lead_id: string; status: string }>(
      'SELECT lead_id, status FROM leads WHERE lead_id = ANY($1)',
      [[...want.keys()]],
    );
    const reached = rows.filter((r) => want.get(r.lead_id) === r.status).length;
    if (reached === want.size) return;
    if (Date.now() > until) throw new Error(`${want.size - reached} leads did not reach their status in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
