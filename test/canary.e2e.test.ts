/**
 * The whole-system canary (issue 14): `npm start` as a user runs it; leads whose intake, notes, places and reasons
 * carry unique markers are walked through their life over HTTP with real tokens; callers without the right to see
 * them try to. Then everything an attacker with the disk or the logs would read is searched: every file of the data
 * folder after a clean stop (PostgreSQL's data files and WAL, Temporal's SQLite file and its WAL, Temporal's log),
 * every line the process printed, and every answer given to an unauthorised caller. Not one marker may be found.
 * (test/at-rest.int.test.ts searches PostgreSQL's rows and files table by table.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../activities/db';
import { signIn } from '../client/cli-sign-in';
import { DEFAULT_AUDIENCE } from '../client/sign-in';
import type { LeadIntakeInput } from '../schemas/intake';
import { sampleIntakeInputs } from './support/lead-fixtures';

const root = fileURLToPath(new URL('..', import.meta.url));
const tag = randomUUID().replace(/-/g, '').slice(0, 12);
const marker = (what: string) => `CANARY${tag}${what}`;
const MARKERS = [
  'VictimName',
  'Address',
  'Summary',
  'PartnerName',
  'ExternalRef',
  'IdempotencyKey',
  'Note',
  'Place',
  'CloseNote',
  'Purpose',
].map(marker);

let dataDir: string;
let api: string;
let issuer: string;
let child: ChildProcess | undefined;
let output = '';
/** Everything an unauthorised caller was answered. */
const refusedAnswers: string[] = [];
let leadId: string;

async function token(login: string) {
  return (await signIn({ issuer, audience: DEFAULT_AUDIENCE, as: login })).accessToken;
}

async function call(method: string, path: string, bearer: string | null, body?: unknown, headers = {}) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: {
      ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'leadline-canary-'));
  await chmod(dataDir, 0o755);
  const { DATABASE_URL: _d, DATABASE_ADMIN_URL: _a, TEMPORAL_ADDRESS: _t, ...inherited } = process.env;
  const ports = {
    PORT: String(await freePort()),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    LEADLINE_OIDC_DEV_PORT: String(await freePort()),
  };
  api = `http://127.0.0.1:${ports.PORT}`;
  issuer = `http://127.0.0.1:${ports.LEADLINE_OIDC_DEV_PORT}`;
  child = spawn(process.execPath, ['--import', './worker/tsx-main-thread.mjs', 'worker/start.ts'], {
    cwd: root,
    // `debug` makes the Temporal SDK and the API log all they log: the most an operator could ever see.
    env: { ...inherited, ...ports, LEADLINE_DATA_DIR: dataDir, LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Leadline is ready')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const intakeService = (await signIn({ issuer, audience: DEFAULT_AUDIENCE, client: 'intake' })).accessToken;
  const base = sampleIntakeInputs()['newark-interview-request'] as LeadIntakeInput;
  const intake: LeadIntakeInput = {
    ...base,
    externalReference: marker('ExternalRef'),
    summary: `${base.summary} ${marker('Summary')}`,
    potentialVictims: [{ ...base.potentialVictims[0]!, name: marker('VictimName') }],
    location: { ...base.location, address: `12 ${marker('Address')} Street` },
    partner: { ...base.partner, name: marker('PartnerName') },
  };
  const submitted = await call('POST', '/leads', intakeService, intake, {
    'idempotency-key': marker('IdempotencyKey'),
  });
  expect(submitted.status, submitted.text).toBe(201);
  leadId = (JSON.parse(submitted.text) as { leadId: string }).leadId;

  const agent = await token('hsi-newark.agent');
  const supervisor = await token('hsi-newark.supervisor');
  for (let i = 0; i < 100; i++) {
    const lead = await call('GET', `/leads/${leadId}`, agent);
    if (lead.status === 200 && (JSON.parse(lead.text) as { state: { status: string } }).state.status === 'assigned')
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const steps: [string, string, unknown][] = [
    [agent, 'AddNote', { text: `called the partner ${marker('Note')}` }],
    [
      agent,
      'RequestInterview',
      {
        scheduledFor: '2026-12-02T15:00:00.000Z',
        place: marker('Place'),
        interpreterLanguage: 'vi',
        victimSpecialist: true,
      },
    ],
    [agent, 'CompleteInterview', { outcome: 'no_trafficking_indicators' }],
    [supervisor, 'CloseLead', { reason: 'no_trafficking_indicators', note: marker('CloseNote') }],
  ];
  for (const [who, type, data] of steps) {
    const done = await call('POST', `/leads/${leadId}/commands/${type}`, who, { data });
    expect(done.status, `${type}: ${done.text}`).toBe(200);
  }
  // The people who may read it did: the read is legitimate, its answer is not searched.
  // Its purpose is typed by a person about a victim: it carries a marker too, and is sealed in the audit log.
  const read = await call('GET', `/leads/${leadId}/intake?purpose=${marker('Purpose')}`, agent);
  expect(read.text).toContain(marker('VictimName'));

  // And those who may not, tried.
  const outsider = await token('hsi-gulfcoast.supervisor');
  const auditor = await token('auditor');
  for (const [who, path] of [
    [outsider, `/leads/${leadId}`],
    [outsider, `/leads/${leadId}/events`],
    [outsider, `/leads/${leadId}/intake?purpose=curious`],
    [outsider, '/leads?limit=500'],
    [auditor, `/leads/${leadId}/intake?purpose=curious`],
    [auditor, `/audit?leadId=${leadId}`],
    [null, `/leads/${leadId}`],
    [null, `/leads/${leadId}/intake?purpose=curious`],
  ] as const) {
    refusedAnswers.push((await call('GET', path, who)).text);
  }
  // The auditor may read the audit log: it must hold who and why, not what.
  refusedAnswers.push((await call('GET', `/audit?leadId=${leadId}&limit=500`, auditor)).text);

  child.kill('SIGINT');
  await new Promise((resolve) => child?.once('exit', resolve));
}, 240_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

function hits(text: string): string[] {
  return MARKERS.filter((m) => text.includes(m));
}

describe('the canary', () => {
  it('stopped cleanly after a whole life of markers', () => {
    expect(output).toContain('Leadline stopped.');
  });

  it('is nowhere in the data folder: PostgreSQL files and WAL, Temporal SQLite and its WAL, logs', async () => {
    const files = await filesUnder(dataDir);
    expect(files.some((f) => f.endsWith('temporal.sqlite'))).toBe(true);
    expect(files.some((f) => f.includes(`${join('postgres', 'pg_wal')}`))).toBe(true);
    const found: string[] = [];
    for (const file of files) {
      const bytes = await readFile(file);
      for (const m of MARKERS) if (bytes.includes(Buffer.from(m))) found.push(`${file}: ${m}`);
    }
    expect(found).toEqual([]);
  });

  it('is in no line the process printed, at debug level', () => {
    expect(output.length).toBeGreaterThan(1000);
    expect(hits(output)).toEqual([]);
  });

  it('is in no answer to a caller who may not see it', () => {
    expect(refusedAnswers).toHaveLength(9);
    // An auditor reads why an intake was read (GET /audit opens the purpose for them), never the intake itself.
    expect(refusedAnswers.flatMap(hits).filter((m) => m !== marker('Purpose'))).toEqual([]);
  });
});
