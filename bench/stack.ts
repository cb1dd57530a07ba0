import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { createPool, freePort } from '../activities/db';
import { createLeadReadModel } from '../activities/read-model';
import { LeadClient } from '../client/lead-client';
import { LeadPayloadCodec } from '../activities/payload-codec';
import type { SlaPolicy } from '../schemas/sla-policy';
import { DEVELOPMENT_FINGERPRINT_KEY, loadSlaPolicy } from '../activities/config';
import { temporalCliPath } from '../worker/temporal-binaries';
import { signIn } from '../client/cli-sign-in';
import { DEFAULT_AUDIENCE } from '../client/sign-in';
import { processTree } from './procfs';
import type { ChildConfig, FromChild, ToChild } from './stack-child';

export interface BenchStack {
  apiUrl: string;
  /** `Authorization` for the intake service's requests (client credentials). */
  intakeAuthorization: string;
  /** `Authorization` for an HQ HSTU person's requests (every office). */
  hqAuthorization: string;
  /** Encrypts payloads with the Leadline process's key, as every Leadline client must. */
  temporal: Client;
  /** No payload codec: for the baseline workflow, whose worker has none. */
  plainTemporal: Client;
  pool: pg.Pool;
  taskQueue: string;
  policy: SlaPolicy;
  /** A LeadClient that stamps new leads with `policy` (the worker takes each lead's policy from its input). */
  leadClient(policy?: SlaPolicy): LeadClient;
  leadlinePid: number;
  temporalPid: number | undefined;
  temporalAddress: string;
  workflowCacheSlots: number;
  startedInMs: number;
  dataDir: string;
  memory(): Promise<{ usage: NodeJS.MemoryUsage; heapLimitMb: number }>;
  /** Rejects if the Leadline process exits before `stop()`: every phase races it instead of hanging. */
  crashed: Promise<never>;
  stop(): Promise<void>;
}

export interface StackOptions {
  logLevel: string;
  cachedLeads: number;
  keepData: boolean;
  /** Directory for V8 CPU profiles of the Leadline process; none when undefined. */
  profileDir?: string;
  /** Extra arguments for `temporal server start-dev`, to try settings Leadline does not pass (yet). */
  temporalArgs?: string[];
  /** Run the HTTP API in a second process (LEADLINE_ROLE=api) against the first one's servers. */
  apiProcess?: boolean;
  /** The dev server (default), or Temporal Server on the embedded PostgreSQL. */
  temporal?: 'dev' | 'cluster';
  say: (line: string) => void;
}

const CHILD = fileURLToPath(new URL('./stack-child.ts', import.meta.url));
const START = fileURLToPath(new URL('../worker/start.ts', import.meta.url));
/** As `npm start` runs Leadline: tsx in the main thread only (worker/tsx-main-thread.mjs says why). */
const TSX_MAIN_THREAD = new URL('../worker/tsx-main-thread.mjs', import.meta.url).href;

/** Starts Leadline in a child process on a fresh data dir and free ports, and connects to it. */
export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'leadline-bench-'));
  // PostgreSQL runs as the `postgres` OS user under root and must be able to traverse it.
  await chmod(dataDir, 0o755);
  const config: ChildConfig = {
    dataDir,
    apiPort: await freePort(),
    postgresPort: await freePort(),
    temporalPort: await freePort(),
    temporalUiPort: await freePort(),
    logLevel: options.logLevel,
    cachedLeads: options.cachedLeads,
    payloadKey: randomBytes(32).toString('base64'),
    oidcPort: await freePort(),
    temporal: options.temporal ?? 'dev',
  };
  const issuer = `http://127.0.0.1:${config.oidcPort}`;
  const log = await open(join(dataDir, 'leadline.log'), 'a');
  const execArgv = ['--import', TSX_MAIN_THREAD];
  if (options.profileDir !== undefined) {
    await mkdir(options.profileDir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_CHILD_CONFIG: JSON.stringify(config) };
  if (options.temporalArgs !== undefined && options.temporalArgs.length > 0) {
    // Leadline starts the CLI it finds in TEMPORAL_CLI_PATH: a wrapper adds the extra arguments to its own.
    const wrapper = join(dataDir, 'temporal-with-extra-args.sh');
    const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
    await writeFile(
      wrapper,
      `#!/bin/sh\nexec ${quote(temporalCliPath())} "$@" ${options.temporalArgs.map(quote).join(' ')}\n`,
      { mode: 0o755 },
    );
    env.TEMPORAL_CLI_PATH = wrapper;
  }
  const child: ChildProcess = fork(CHILD, [], {
    execArgv,
    env,
    stdio: ['ignore', log.fd, log.fd, 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let keepData = options.keepData;
  const cleanup = async () => {
    await log.close().catch(() => undefined);
    if (!keepData) await rm(dataDir, { recursive: true, force: true });
  };

  const ready = await new Promise<Extract<FromChild, { type: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Leadline did not start within 180 s')), 180_000);
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`Leadline did not start: ${message.message}`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the Leadline process exited with code ${code} during start-up (log: ${dataDir}/leadline.log)`));
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGTERM');
    await exited;
    keepData = true; // keep the log of a failed start
    await cleanup();
    throw error;
  });

  const apiProcess = options.apiProcess
    ? await startApiProcess({
        databaseUrl: ready.databaseUrl,
        temporalAddress: ready.temporalAddress,
        taskQueue: ready.taskQueue,
        payloadKey: config.payloadKey,
        issuer,
        logLevel: options.logLevel,
        dataDir: join(dataDir, 'api'),
        log: log.fd,
      }).catch(async (error: unknown) => {
        child.kill('SIGTERM');
        await exited;
        keepData = true;
        await cleanup();
        throw error;
      })
    : undefined;

  const connection = await Connection.connect({ address: ready.temporalAddress });
  const temporal = new Client({
    connection,
    dataConverter: { payloadCodecs: [new LeadPayloadCodec(Buffer.from(config.payloadKey, 'base64'))] },
  });
  const plainTemporal = new Client({ connection });
  const pool = createPool(ready.databaseUrl, { max: 8 });
  const readModel = createLeadReadModel(pool);
  const policy = loadSlaPolicy({});
  // The dev server is `temporal`; Temporal Server, `temporal-server` (worker/temporal-server.ts).
  const temporalPid = processTree(child.pid ?? -1).find(
    (p) => p.comm === 'temporal' || p.comm === 'temporal-server',
  )?.pid;

  let nextId = 0;
  const pending = new Map<number, (m: Extract<FromChild, { type: 'memory' }>) => void>();
  child.on('message', (message: FromChild) => {
    if (message.type === 'memory') {
      pending.get(message.id)?.(message);
      pending.delete(message.id);
    }
  });
  const sendToChild = (message: ToChild) => child.send(message);

  let stopped: Promise<void> | undefined;
  const crashed = exited.then((code) => {
    if (stopped !== undefined) return new Promise<never>(() => undefined);
    keepData = true; // its log is the evidence
    throw new Error(`the Leadline process exited with code ${code} (log: ${join(dataDir, 'leadline.log')})`);
  });
  crashed.catch(() => undefined); // observed by whoever races it
  // Signed in once, as the clients of a real deployment would be: an intake service and an HQ HSTU supervisor.
  // The development provider's secrets come from config/dev-identities.json, as the CLI reads them.
  const intakeToken = await signIn({ issuer, audience: DEFAULT_AUDIENCE, client: 'intake' });
  const hqToken = await signIn({ issuer, audience: DEFAULT_AUDIENCE, as: 'hq' });
  return {
    crashed,
    apiUrl: apiProcess?.url ?? ready.apiUrl,
    intakeAuthorization: `Bearer ${intakeToken.accessToken}`,
    hqAuthorization: `Bearer ${hqToken.accessToken}`,
    temporal,
    plainTemporal,
    pool,
    taskQueue: ready.taskQueue,
    policy,
    // Keyed as the Leadline process it drives keys them (npm start's development key): one lead per key either way.
    leadClient: (p = policy) =>
      new LeadClient({
        temporal,
        taskQueue: ready.taskQueue,
        policy: p,
        readModel,
        leadIdKey: DEVELOPMENT_FINGERPRINT_KEY,
      }),
    leadlinePid: child.pid ?? -1,
    temporalPid,
    temporalAddress: ready.temporalAddress,
    workflowCacheSlots: options.cachedLeads,
    startedInMs: ready.startedInMs,
    dataDir,
    memory: () =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error('the Leadline process did not report its memory')), 10_000);
        pending.set(id, (m) => {
          clearTimeout(timer);
          resolve({ usage: m.usage, heapLimitMb: m.heapLimitMb });
        });
        sendToChild({ type: 'memory', id });
      }),
    stop: () =>
      (stopped ??= (async () => {
        await apiProcess?.stop();
        await pool.end().catch(() => undefined);
        await connection.close().catch(() => undefined);
        if (child.exitCode === null) {
          // Known now, while they are still the child's: the servers to take down if it cannot.
          const tree = processTree(child.pid ?? -1);
          sendToChild({ type: 'stop' });
          const timer = setTimeout(() => {
            for (const p of tree.reverse()) {
              try {
                process.kill(p.pid, 'SIGKILL');
              } catch {
                // already gone
              }
            }
          }, 60_000);
          await exited;
          clearTimeout(timer);
        }
        await cleanup();
      })()),
  };
}

/** `npm start`'s command with LEADLINE_ROLE=api: the HTTP API alone, against the bench's servers. */
async function startApiProcess(options: {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  payloadKey: string;
  issuer: string;
  logLevel: string;
  dataDir: string;
  log: number;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  // From scratch, as for the Leadline process: none of the user's LEADLINE_* settings leak in.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LEADLINE_ROLE: 'api',
    LEADLINE_DATA_DIR: options.dataDir,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: options.databaseUrl,
    TEMPORAL_ADDRESS: options.temporalAddress,
    LEADLINE_TASK_QUEUE: options.taskQueue,
    LEADLINE_PAYLOAD_KEY: options.payloadKey,
    LEADLINE_OIDC_ISSUER: options.issuer,
    LOG_LEVEL: options.logLevel,
  };
  const child = spawn(process.execPath, ['--import', TSX_MAIN_THREAD, START], {
    env,
    stdio: ['ignore', 'pipe', options.log],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Its output is read until it says it is ready, then dropped (the request log) rather than let the pipe fill.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not left running behind a failed bench
      reject(new Error('the API process did not start within 60 s'));
    }, 60_000);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      if (output.length < 10_000) output += chunk.toString();
      if (output.includes('Leadline is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the API process exited with code ${code} during start-up: ${output.slice(-500)}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
