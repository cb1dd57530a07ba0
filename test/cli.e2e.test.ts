import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../activities/db';
import { fieldCryptoFor } from '../activities/field-crypto';
import { runCli } from '../client/cli';
import { buildApi } from '../client/http';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/leads/${name}.json`, import.meta.url));
const launcher = fileURLToPath(new URL('../bin/leadline.js', import.meta.url));

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let api: FastifyInstance;
let base: string;
/** Where `leadline login` keeps its token in this run (LEADLINE_CREDENTIALS). */
let credentialsDir: string;
let credentials: string;

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  access = await startTestAccess();
  credentialsDir = await mkdtemp(join(tmpdir(), 'leadline-credentials-'));
  credentials = join(credentialsDir, 'credentials.json');
  api = await buildApi({
    leads: access.guard(stack.client, stack.db.pool),
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
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
  // Signed in as HQ HSTU (every office) through the provider's own sign-in, as a person at a terminal would be.
  const login = await cli('login', '--as', 'hq', '--issuer', access.idp.issuer);
  expect([login.code, login.err]).toEqual([0, '']);
  expect(login.out).toMatch(/^signed in as hq until \d{4}-/);
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
  if (credentialsDir !== undefined) await rm(credentialsDir, { recursive: true, force: true });
});

/** Runs the CLI in-process against the test API, as `leadline --api <base> ...args`, with this run's credentials. */
async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--api', base, ...args], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: { ...process.env, LEADLINE_CREDENTIALS: credentials },
  });
  return { code, out: out.join(''), err: err.join('') };
}

async function getJson(path: string) {
  const response = await fetch(`${base}${path}`, { headers: await access.as('hq') });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's answers, read loosely in assertions
  return { status: response.status, body: (await response.json()) as any };
}

/** The value printed after a label in `show`'s key/value block. */
function field(output: string, label: string): string | undefined {
  const line = output.split('\n').find((l) => l.startsWith(`${label} `));
  return line?.slice(label.length).trim();
}

async function waitForStatus(leadId: string, status: string) {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if ((await getJson(`/leads/${leadId}`)).body?.state?.status === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`lead ${leadId} did not reach ${status}`);
}

describe('the leadline CLI over the HTTP API', () => {
  let newark: string;
  let houston: string;

  it('submits a lead from a file and prints its id', async () => {
    const submitted = await cli('submit', fixture('newark-interview-request'));
    expect(submitted.err).toBe('');
    expect(submitted.code).toBe(0);
    newark = submitted.out.trim();
    expect(newark).toMatch(/^[0-9a-f-]{36}$/);
    expect((await getJson(`/leads/${newark}`)).status).toBe(200);

    // The same file again is the same lead: the partner's reference identifies the submission.
    const again = await cli('submit', fixture('newark-interview-request'));
    expect(again.out.trim()).toBe(newark);

    const other = await cli('submit', fixture('hhs-tipline-minor'), '--json');
    expect(other.code).toBe(0);
    houston = JSON.parse(other.out).leadId;
    expect(houston).not.toBe(newark);

    await waitForStatus(newark, 'assigned');
    await waitForStatus(houston, 'assigned');
  });

  it('lists leads exactly as the API does, as JSON and as a table', async () => {
    const listed = await cli('list', '--json');
    expect(listed.code).toBe(0);
    const fromApi = await getJson('/leads');
    expect(JSON.parse(listed.out)).toEqual(fromApi.body);
    expect(fromApi.body.items).toHaveLength(2);

    const table = await cli('list', '--office', 'HSI-NEWARK');
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^LEAD\s+STATUS\s+PRIORITY\s+OFFICE/);
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(new RegExp(`^${newark}\\s+assigned\\s+standard\\s+HSI-NEWARK`));

    const urgent = await cli('list', '--priority', 'urgent', '--json');
    expect(JSON.parse(urgent.out).items.map((i: { leadId: string }) => i.leadId)).toEqual([houston]);
  });

  it("shows a lead's status and office as the API returns them, and its timeline", async () => {
    const shown = await cli('show', newark);
    expect(shown.code).toBe(0);
    const { body: lead } = await getJson(`/leads/${newark}`);
    expect(field(shown.out, 'status')).toBe(lead.state.status);
    expect(field(shown.out, 'office')).toBe(lead.state.office);
    expect(field(shown.out, 'office')).toBe('HSI-NEWARK');
    expect(shown.out).toMatch(/LeadReceived[\s\S]*LeadValidated[\s\S]*LeadAssigned/);
    const intake = sampleIntakeInputs()['newark-interview-request']!;
    expect(shown.out).not.toContain(intake.summary);
    expect(shown.out).not.toContain('Invented Person A');

    const asJson = JSON.parse((await cli('show', newark, '--json')).out);
    expect(asJson.lead).toEqual(lead);
    expect(asJson.events.map((e: { type: string }) => e.type)).toEqual([
      'LeadReceived',
      'LeadValidated',
      'LeadAssigned',
    ]);
  });

  it('sends commands, and prints a refused one as a problem on stderr with exit code 1', async () => {
    const requested = await cli(
      'request-interview',
      newark,
      '--at',
      '2026-12-02T15:00:00Z',
      '--place',
      'Newark field office',
      '--interpreter',
      'vi',
      '--victim-specialist',
    );
    expect(requested.err).toBe('');
    expect(requested.code).toBe(0);
    expect(requested.out).toMatch(new RegExp(`^${newark}\\s+interview_requested`));

    const refused = await cli('open-case', newark, '--case-number', 'HSI-NWK-2026-0042');
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(
      /^error: Command rejected: OpenCase is not allowed while the lead is interview_requested; allowed: .*CompleteInterview/,
    );

    const note = await cli(
      'add-note',
      newark,
      '--text',
      'Called the partner back',
      '--command-id',
      `note-${randomUUID()}`,
    );
    expect(note.code).toBe(0);
    const completed = await cli('complete-interview', newark, '--outcome', 'victim_identified', '--json');
    expect(JSON.parse(completed.out).state).toMatchObject({ status: 'interview_completed', noteCount: 1 });
    const opened = await cli('open-case', newark, '--case-number', 'HSI-NWK-2026-0042');
    expect(opened.code).toBe(0);
    expect(opened.out).toMatch(/case_opened/);

    const closed = await cli('close', houston, '--reason', 'referred_to_other_agency', '--note', 'FBI has it');
    expect(closed.code).toBe(0);
    expect((await getJson(`/leads/${houston}`)).body.state.closedReason).toBe('referred_to_other_agency');
  });

  it('reports missing leads, invalid input and an unreachable API as errors', async () => {
    const missing = randomUUID();
    const notFound = await cli('show', missing);
    expect(notFound.code).toBe(1);
    expect(notFound.err).toBe(`error: Lead not found: no lead has the id ${missing}\n`);

    const invalid = await cli('open-case', randomUUID(), '--case-number', 'x');
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/^error: Invalid input: .*\n {2}data\.caseNumber: case number must be like/);

    const usage = await cli('assign', newark);
    expect(usage.code).toBe(1);
    expect(usage.err).toMatch(/required option '--office <office>' not specified/);

    const nowhere = `http://127.0.0.1:${await freePort()}`;
    let seen = '';
    const unreachable = await runCli(['--api', nowhere, 'list'], { out: () => {}, err: (s) => void (seen += s) });
    expect(unreachable).toBe(1);
    expect(seen).toBe(`error: API unreachable: cannot reach ${nowhere}: ECONNREFUSED\n`);
  });

  it('runs from bin/leadline.js as a program', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [launcher, 'list', '--json'], {
      env: { ...process.env, LEADLINE_API_URL: base, LEADLINE_CREDENTIALS: credentials },
    });
    expect(JSON.parse(stdout)).toEqual((await getJson('/leads')).body);
  });

  it('reads a lead’s intake with a stated purpose, which the audit log records', async () => {
    const submitted = await cli(
      'submit',
      fixture('ngo-farmworkers'),
      '--idempotency-key',
      `CLI-INTAKE-${randomUUID()}`,
    );
    const leadId = submitted.out.trim();
    const read = await cli('intake', leadId, '--purpose', 'preparing the interview');
    expect([read.code, read.err]).toEqual([0, '']);
    expect(JSON.parse(read.out)).toMatchObject({ location: { jurisdiction: 'US-FL' } });
    const { rows } = await stack.db.pool.query<{ actor: string; detail: unknown }>(
      "SELECT actor, detail FROM audit_log WHERE lead_id = $1 AND action = 'ReadIntake' AND outcome = 'read'",
      [leadId],
    );
    // Sealed at rest, like the intake the purpose explains.
    const opened = rows.map((r) => ({
      actor: r.actor,
      detail: {
        purpose: fieldCryptoFor(stack.db.pool).openIfSealed(
          leadId,
          'purpose',
          (r.detail as { purpose: unknown }).purpose,
        ),
      },
    }));
    expect(opened).toEqual([{ actor: 'hq', detail: { purpose: 'preparing the interview' } }]);
    expect(JSON.stringify(rows)).not.toContain('preparing the interview');
    const withoutPurpose = await cli('intake', leadId);
    expect(withoutPurpose.code).toBe(1);
    expect(withoutPurpose.err).toMatch(/--purpose/);
  });

  it('signs in people and services, prints tokens for curl, and refuses a wrong password', async () => {
    const token = await cli('token', '--as', 'hsi-newark.agent', '--issuer', access.idp.issuer);
    expect(token.code).toBe(0);
    expect(await access.authenticate(`Bearer ${token.out.trim()}`)).toMatchObject({
      subject: 'hsi-newark.agent',
      roles: ['agent'],
    });
    const service = await cli('token', '--client', 'intake', '--issuer', access.idp.issuer);
    expect(await access.authenticate(`Bearer ${service.out.trim()}`)).toMatchObject({ kind: 'service' });
    const wrong = await cli('token', '--as', 'hq', '--password', 'guess', '--issuer', access.idp.issuer);
    expect([wrong.code, wrong.err]).toEqual([1, 'error: the OpenID provider refused the sign-in of hq\n']);
    // Without a token the API says so, and the CLI passes it on.
    const anonymous = await runCli(['--api', base, 'list'], {
      out: () => undefined,
      err: () => undefined,
      env: { ...process.env, LEADLINE_CREDENTIALS: join(credentialsDir, 'none.json') },
    });
    expect(anonymous).toBe(1);
  });

  // Last: it adds a lead the listing tests above do not expect.
  it('submits with --async, answered before the intake is recorded, and the lead is recorded after', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leadline-cli-'));
    try {
      const file = join(dir, 'intake.json');
      const intake = { ...sampleIntakeInputs()['ngo-farmworkers']!, externalReference: `CLI-ASYNC-${randomUUID()}` };
      await writeFile(file, JSON.stringify(intake));
      const accepted = await cli('submit', file, '--async', '--json');
      expect([accepted.code, accepted.err]).toEqual([0, '']);
      const { leadId, ...rest } = JSON.parse(accepted.out) as { leadId: string };
      // A 202 carries no receivedAt: the intake is not recorded yet when it is sent.
      expect(rest).toEqual({ workflowId: `lead-${leadId}` });
      await waitForStatus(leadId, 'assigned');
      // Known now: the same file again gets the receipt, as without --async.
      const again = await cli('submit', file, '--async', '--json');
      expect(JSON.parse(again.out)).toMatchObject({ leadId, receivedAt: expect.any(String) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
