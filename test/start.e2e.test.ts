import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, localEmbeddedAppUrl } from '../activities/db';
import { signIn } from '../client/cli-sign-in';
import { DEFAULT_AUDIENCE } from '../client/sign-in';
import { TEMPORAL_UI_VERSION, ensureTemporalUi, temporalUiCacheDir } from '../worker/temporal-ui';
import { startTestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { postOverTls } from './support/https';

const root = fileURLToPath(new URL('..', import.meta.url));
let dataDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'leadline-start-'));
  // mkdtemp makes it private; PostgreSQL, run as the 'postgres' user under root, must walk through it.
  await chmod(dataDir, 0o755);
  // Everything `npm start` would use, on free ports and a throw-away data folder; no DATABASE_URL or
  // TEMPORAL_ADDRESS, so the embedded PostgreSQL and the Temporal dev server start as for a user.
  // Nor the shell's choice of Temporal UI: the embedded one unless a test asks for the UI server.
  const {
    DATABASE_URL: _d,
    DATABASE_ADMIN_URL: _a,
    TEMPORAL_ADDRESS: _t,
    LEADLINE_TEMPORAL_UI: _u,
    LEADLINE_TEMPORAL_UI_CODEC_PORT: _c,
    ...inherited
  } = process.env;
  env = {
    ...inherited,
    LEADLINE_DATA_DIR: dataDir,
    PORT: String(await freePort()),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    LEADLINE_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
    LEADLINE_OIDC_DEV_PORT: String(await freePort()),
    // vitest's LOG_LEVEL is warn; npm start's start-up lines are at info.
    LOG_LEVEL: 'info',
  };
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `npm start`'s command, as a child process; resolves once it says it is ready. */
async function start(withEnv: NodeJS.ProcessEnv = env): Promise<Started> {
  const child = spawn(process.execPath, ['--import', './worker/tsx-main-thread.mjs', 'worker/start.ts'], {
    cwd: root,
    env: withEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, as a terminal gives a command: Ctrl-C there signals the whole group.
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Leadline is ready')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output, exited };
}

/** Ctrl-C as a terminal sends it, to the whole process group; Leadline stops in order and says nothing went wrong. */
async function stop(started: Started, steps: readonly string[] = EVERY_STEP) {
  const pid = started.child.pid;
  if (pid === undefined) throw new Error('npm start has no pid');
  process.kill(-pid, 'SIGINT');
  const code = await started.exited;
  const output = started.output();
  expect(code, output).toBe(0);
  // One shape: every line pino JSON (stdout is not a TTY here), no colour codes.
  expect(output).not.toContain('\x1b[');
  const lines = output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { level: number; msg: string });
  // No error lines: nothing at error or above, and PostgreSQL never closed a connection still in use (57P01).
  expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  expect(output).not.toContain('57P01');
  // In order: the API, the worker (drained), then the servers it used, and the last word.
  const said = lines
    .map((line) => line.msg)
    .filter((msg) => msg === UI_STEP || EVERY_STEP.includes(msg) || msg === 'Leadline stopped.');
  expect(said).toEqual([...steps, 'Leadline stopped.']);
}

/** The first step under LEADLINE_TEMPORAL_UI=server. */
const UI_STEP = 'Temporal UI and its codec front stopped';
const EVERY_STEP = [
  'HTTP API stopped',
  'Worker drained and stopped',
  'Temporal dev server stopped',
  'PostgreSQL stopped',
];

describe('npm start', () => {
  it('brings the stack up, accepts a sample lead over HTTP, stops cleanly, and keeps the lead for the next start', async () => {
    const api = `http://127.0.0.1:${env.PORT}`;
    const first = await start();
    let leadId: string;
    let hq: { authorization: string };
    try {
      expect(first.output()).toMatch(/PostgreSQL .*embedded/);
      expect(first.output()).toMatch(/Temporal UI +http:\/\/127\.0\.0\.1:\d+/);
      expect(first.output()).toContain(`HTTP API        ${api}`);
      // The development OpenID provider: signed in through it as the intake service and as HQ HSTU.
      const issuer = `http://127.0.0.1:${env.LEADLINE_OIDC_DEV_PORT}`;
      expect(first.output()).toContain(`Sign-in         ${issuer} (development OpenID provider`);
      expect(await (await fetch(`${api}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${api}/leads`)).status).toBe(401);
      const intake = await signIn({ issuer, audience: DEFAULT_AUDIENCE, client: 'intake' });
      const created = await fetch(`${api}/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${intake.accessToken}` },
        body: JSON.stringify(sampleIntakeInputs()['ngo-farmworkers']),
      });
      expect(created.status).toBe(201);
      leadId = ((await created.json()) as { leadId: string }).leadId;
      hq = { authorization: `Bearer ${(await signedIn(issuer, 'hq')).accessToken}` };
      const lead = await fetch(`${api}/leads/${leadId}`, { headers: hq });
      expect(lead.status).toBe(200);
      // The worker's SDK metrics, for Prometheus: its workflow tasks and their slots.
      expect(first.output()).toContain(`Worker metrics  http://${env.LEADLINE_METRICS_ADDRESS}/metrics`);
      const metrics = await (await fetch(`http://${env.LEADLINE_METRICS_ADDRESS}/metrics`)).text();
      expect(metrics).toMatch(/^temporal_workflow_task_execution_latency_count\{.*task_queue="leads".*\} [1-9]/m);
      expect(metrics).toMatch(/^temporal_worker_task_slots_available\{.*worker_type="WorkflowWorker".*\} \d+/m);
    } finally {
      await stop(first);
    }
    // Stopped means stopped: nothing answers on the API port any more.
    await expect(fetch(`${api}/healthz`)).rejects.toThrow();

    const second = await start();
    try {
      // The provider's signing keys live as long as its process: sign in again after a restart.
      hq = {
        authorization: `Bearer ${(await signedIn(`http://127.0.0.1:${env.LEADLINE_OIDC_DEV_PORT}`, 'hq')).accessToken}`,
      };
      // The first run may have stopped between validation and routing: the workflow resumes where it was.
      let view: { from: string; state: { status: string; office: string | null } } | undefined;
      for (let i = 0; i < 100 && view?.state.status !== 'assigned'; i++) {
        const again = await fetch(`${api}/leads/${leadId}`, { headers: hq });
        expect(again.status).toBe(200);
        view = (await again.json()) as typeof view;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(view?.from).toBe('workflow');
      expect(view?.state).toMatchObject({ status: 'assigned', office: 'HSI-GULFCOAST' });
    } finally {
      await stop(second);
    }
  });
  it('runs as a worker process and an API process of its own', async () => {
    // The worker's process owns the embedded servers; the API's connects to them and shares the payload key.
    const workerEnv = {
      ...env,
      LEADLINE_ROLE: 'worker',
      LEADLINE_FINGERPRINT_KEY: 'a-test-fingerprint-key-of-its-own',
      PORT: String(await freePort()),
      TEMPORAL_DEV_PORT: String(await freePort()),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
    };
    const apiPort = await freePort();
    // One metrics endpoint per process: the API's process serves none here.
    const { LEADLINE_METRICS_ADDRESS: _metrics, ...withoutMetrics } = env;
    // An API of its own trusts the agency's provider (LEADLINE_OIDC_ISSUER): here, one the test runs.
    const access = await startTestAccess();
    const apiEnv = {
      ...withoutMetrics,
      LEADLINE_OIDC_ISSUER: access.idp.issuer,
      LEADLINE_ROLE: 'api',
      LEADLINE_FINGERPRINT_KEY: 'a-test-fingerprint-key-of-its-own',
      PORT: String(apiPort),
      DATABASE_URL: localEmbeddedAppUrl(Number(workerEnv.EMBEDDED_POSTGRES_PORT)),
      TEMPORAL_ADDRESS: `127.0.0.1:${workerEnv.TEMPORAL_DEV_PORT}`,
    };
    const worker = await start(workerEnv);
    try {
      expect(worker.output()).toContain('HTTP API        none here (LEADLINE_ROLE=worker)');
      await expect(fetch(`http://127.0.0.1:${workerEnv.PORT}/healthz`)).rejects.toThrow();
      const apiProcess = await start(apiEnv);
      try {
        expect(apiProcess.output()).toContain('Worker          none here (LEADLINE_ROLE=api)');
        const api = `http://127.0.0.1:${apiPort}`;
        expect((await fetch(`${api}/readyz`)).status).toBe(200);
        const hqHeaders = await access.as('hq');
        const created = await fetch(`${api}/leads`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...hqHeaders },
          body: JSON.stringify(sampleIntakeInputs()['hhs-tipline-minor']),
        });
        expect(created.status).toBe(201);
        const { leadId } = (await created.json()) as { leadId: string };
        // Validated and routed by the other process.
        let status: string | undefined;
        for (let i = 0; i < 100 && status !== 'assigned'; i++) {
          const view = (await (await fetch(`${api}/leads/${leadId}`, { headers: hqHeaders })).json()) as {
            state: { status: string };
          };
          status = view.state.status;
          if (status !== 'assigned') await new Promise((r) => setTimeout(r, 100));
        }
        expect(status).toBe('assigned');
      } finally {
        await stop(apiProcess, ['HTTP API stopped']);
      }
    } finally {
      await stop(worker, EVERY_STEP.slice(1));
      await access.stop();
    }
  });

  // Temporal's UI server is built with Go the first time: from the cache (or TEMPORAL_UI_SERVER_PATH) it takes seconds;
  // without either, minutes with `go` on PATH, and without `go` it cannot run (vitest reports it skipped).
  const uiBuilt = !!process.env.TEMPORAL_UI_SERVER_PATH || existsSync(join(temporalUiCacheDir(), 'complete.json'));
  const goOnPath = uiBuilt || spawnSync('go', ['version']).status === 0;
  it.skipIf(!goOnPath)(
    "LEADLINE_TEMPORAL_UI=server: serves Temporal's UI server signed in through the development provider, decoding through the https codec front",
    async () => {
      // Here rather than inside npm start's 90 s wait: the child finds it in the cache.
      await ensureTemporalUi(() => undefined);
      const codecPort = await freePort();
      const ui = `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`;
      const api = `http://127.0.0.1:${env.PORT}`;
      const codec = `https://127.0.0.1:${codecPort}/codec`;
      const issuer = `http://127.0.0.1:${env.LEADLINE_OIDC_DEV_PORT}`;
      const started = await start({
        ...env,
        LEADLINE_TEMPORAL_UI: 'server',
        LEADLINE_TEMPORAL_UI_CODEC_PORT: String(codecPort),
      });
      // As a browser that accepted it (once): npm start made it in its data folder.
      const cert = readFileSync(join(dataDir, 'codec-tls', 'cert.pem'));
      try {
        expect(started.output()).toContain('(dev server without its UI,');
        expect(started.output()).toContain(`Temporal UI     ${ui} (UI server ${TEMPORAL_UI_VERSION}, pid `);
        expect(started.output()).toContain(`Codec for UI    ${codec} -> ${api}/codec`);
        expect(started.output()).toContain(`open https://127.0.0.1:${codecPort}/ once in your browser and accept it`);

        // The UI on TEMPORAL_UI_PORT is the UI server's (the embedded one has no sign-in and an http codec).
        expect((await fetch(`${ui}/healthz`)).status).toBe(200);
        const settings = (await (await fetch(`${ui}/api/v1/settings`)).json()) as Record<string, unknown>;
        expect(settings).toMatchObject({
          Version: TEMPORAL_UI_VERSION,
          Auth: { Enabled: true },
          Codec: { Endpoint: codec, PassAccessToken: true },
          WorkflowTerminateDisabled: true,
        });

        // Its sign-in goes to the development provider, as temporal-ui, for the API's audience; the provider takes it.
        const sso = await fetch(`${ui}/auth/sso`, { redirect: 'manual' });
        expect(sso.status).toBe(302);
        const authorize = new URL(sso.headers.get('location') ?? '');
        expect(`${authorize.origin}${authorize.pathname}`).toBe(`${issuer}/auth`);
        expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
          client_id: 'temporal-ui',
          redirect_uri: `${ui}/auth/sso/callback`,
          resource: DEFAULT_AUDIENCE,
        });
        const form = await fetch(authorize, { redirect: 'manual' });
        expect(form.headers.get('location') ?? `${form.status} ${await form.text()}`).toContain('/interaction/');

        // The https front forwards the codec to the API, which authenticates, decides and answers the UI's origin.
        const post = (path: string, body: unknown, token?: string) =>
          postOverTls(`${codec}/${path}`, cert, JSON.stringify(body), {
            'content-type': 'application/json',
            origin: ui,
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          });
        const clear = {
          metadata: { encoding: Buffer.from('json/plain').toString('base64') },
          data: Buffer.from('"read in the UI"').toString('base64'),
        };
        expect((await post('decode', { payloads: [clear] })).status).toBe(401);
        const hq = (await signedIn(issuer, 'hq')).accessToken;
        const encoded = await post('encode', { payloads: [clear] }, hq);
        expect(encoded.status).toBe(200);
        const sealed = JSON.parse(encoded.body) as { payloads: { metadata: Record<string, string>; data: string }[] };
        expect(Buffer.from(sealed.payloads[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('binary/encrypted');
        const decoded = await post('decode', sealed, hq);
        expect(decoded.status).toBe(200);
        expect(decoded.headers['access-control-allow-origin']).toBe(ui);
        expect(JSON.parse(decoded.body)).toEqual({ payloads: [clear] });
      } finally {
        await stop(started, [UI_STEP, ...EVERY_STEP]);
      }
      // Stopped with the rest: neither the UI nor the front answers.
      await expect(fetch(`${ui}/healthz`)).rejects.toThrow();
      await expect(postOverTls(`${codec}/decode`, cert, '{}', {})).rejects.toThrow(/ECONNREFUSED/);
    },
    uiBuilt ? 120_000 : 20 * 60_000,
  );
});

function signedIn(issuer: string, login: string) {
  return signIn({ issuer, audience: DEFAULT_AUDIENCE, as: login });
}
