import { fork, spawn, type ChildProcess } from 'node:child_process';
import { loadDirectory } from '../../activities/directory';
import { leadIdForKey } from '../../client/lead-client';
import { signIn } from '../../client/cli-sign-in';
import { DEFAULT_AUDIENCE } from '../../client/sign-in';
import { loadDevIdentities, startDevIdentityProvider, type DevIdentityProvider } from '../../worker/identity-provider';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTemporalDevServer, type DevServerHandle } from '../../worker/temporal-dev-server';
import {
  CLUSTER_POSTGRES_MAX_CONNECTIONS,
  startTemporalServer,
  type TemporalServerBinaries,
  type TemporalServerHandle,
  type TemporalServerPorts,
} from '../../worker/temporal-server';
import { processTree } from '../procfs';
import { sleep } from '../stats';

/*
 * The system under test as separate OS processes, each started, killed (SIGKILL) and restarted by pid, as an
 * operator's machine would see them crash: PostgreSQL (on one data directory), Temporal (the dev server on one SQLite
 * file, or with `--temporal cluster` Temporal Server on that PostgreSQL), one or more workers (LEADLINE_ROLE=worker)
 * and an API (LEADLINE_ROLE=api). Loopback only. Only processes started here are ever signalled.
 */

const START = fileURLToPath(new URL('../../worker/start.ts', import.meta.url));
const PG_HOST = fileURLToPath(new URL('./pg-host.ts', import.meta.url));
/** As `npm start` runs a worker: tsx in the main thread only (worker/tsx-main-thread.mjs says why). */
const TSX_MAIN_THREAD = new URL('../../worker/tsx-main-thread.mjs', import.meta.url).href;

export interface ClusterPorts {
  postgres: number;
  temporal: number;
  temporalUi: number;
  api: number;
}

/** Temporal Server on the run's PostgreSQL, in place of the dev server: its binaries and every service's port. */
export interface TemporalServerChoice {
  binaries: TemporalServerBinaries;
  ports: TemporalServerPorts;
  historyShards: number;
}

export interface ClusterOptions {
  dir: string;
  ports: ClusterPorts;
  payloadKey: string;
  policyFile: string;
  taskQueue: string;
  /** Extra environment for the worker and API processes (the reconciler's interval, when the code reads one). */
  extraEnv: Record<string, string>;
  say: (line: string) => void;
  /** Unset: the dev server. */
  temporalServer?: TemporalServerChoice;
  /** Worker processes on the task queue (default 1). */
  workers?: number;
}

/** A process that is either running (with its pid) or not; `kill9` and `start` are the nemesis' levers. */
export interface Service {
  readonly name: string;
  pid(): number | undefined;
  start(): Promise<void>;
  /** SIGKILL, no warning: the process and everything it spawned. */
  kill9(): Promise<void>;
  /** Orderly stop (SIGTERM, SIGKILL after a while). */
  stop(): Promise<void>;
  /** SIGSTOP to the process and everything it spawned: it holds its connections and answers nothing. */
  freeze?(): Promise<void>;
  /** SIGCONT to what `freeze` stopped. */
  thaw?(): Promise<void>;
}

/** Kills a tree bottom-up with SIGKILL, children first listed last so none is re-parented and missed. */
function killTree(pids: number[]) {
  for (const pid of pids) signal(pid, 'SIGKILL');
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The service account the load submits as; the API scopes its Idempotency-Keys by it. */
export const SUBMITTER = 'intake';

/** LEADLINE_FINGERPRINT_KEY of the run's processes: it keys lead ids, so the checker can name the lead of each key. */
export const FINGERPRINT_KEY = 'leadline-faults-fingerprint-key';

/** The lead an Idempotency-Key names when the load's service account submits with it. */
export function leadIdForSubmission(key: string): string {
  return leadIdForKey(`${SUBMITTER}:${key}`, FINGERPRINT_KEY);
}

export class Cluster {
  readonly postgres: Service;
  readonly temporal: Service;
  /** The first worker: the one the single-worker faults kill. */
  readonly worker: Service;
  readonly workers: Service[];
  readonly api: Service;
  databaseUrl = '';
  adminUrl = '';
  readonly temporalAddress: string;
  readonly apiUrl: string;
  /** `Authorization` of the intake service (submissions) and of an HQ HSTU person (commands), once started. */
  authorization = { submit: '', command: '' };
  private identity: DevIdentityProvider | undefined;
  private readonly logs: WriteStream;

  constructor(private readonly options: ClusterOptions) {
    this.temporalAddress = `127.0.0.1:${options.temporalServer?.ports.frontend ?? options.ports.temporal}`;
    this.apiUrl = `http://127.0.0.1:${options.ports.api}`;
    this.logs = createWriteStream(join(options.dir, 'processes.log'), { flags: 'a' });
    this.postgres = this.postgresService();
    this.temporal = options.temporalServer === undefined ? this.temporalService() : this.temporalServerService();
    this.workers = Array.from({ length: options.workers ?? 1 }, (_, i) =>
      this.leadlineService('worker', i === 0 ? 'worker' : `worker-${i + 1}`),
    );
    this.worker = this.workers[0] as Service;
    this.api = this.leadlineService('api', 'api');
  }

  /** Every log the processes wrote: the poison check reads them for the marker it planted. */
  logFiles(): string[] {
    return [join(this.options.dir, 'processes.log'), join(this.options.dir, 'temporal.log')];
  }

  async startAll(): Promise<void> {
    // The API trusts an OpenID provider of the agency's (LEADLINE_OIDC_ISSUER); here, the development one, in this
    // process: it is not a fault target.
    this.identity = await startDevIdentityProvider({
      identities: await loadDevIdentities(await loadDirectory()),
      audience: DEFAULT_AUDIENCE,
    });
    await this.postgres.start();
    await this.temporal.start();
    await this.worker.start(); // it migrates; the API waits for the migrations
    for (const other of this.workers.slice(1)) await other.start();
    await this.api.start();
    const issuer = this.identity.issuer;
    const service = await signIn({ issuer, audience: DEFAULT_AUDIENCE, client: SUBMITTER });
    const hq = await signIn({ issuer, audience: DEFAULT_AUDIENCE, as: 'hq' });
    this.authorization = { submit: `Bearer ${service.accessToken}`, command: `Bearer ${hq.accessToken}` };
  }

  /** Stops what is running, API first; whatever does not stop in time is killed. */
  async stopAll(): Promise<void> {
    for (const service of [this.api, ...this.workers, this.temporal, this.postgres]) {
      await service.stop().catch((error: unknown) => this.options.say(`${service.name}: ${(error as Error).message}`));
    }
    await new Promise<void>((resolve) => this.logs.end(resolve));
    await this.identity?.stop();
  }

  /** Last resort (the suite itself failed): SIGKILL to every process this cluster started that still runs. */
  killEverything(): void {
    for (const service of [this.api, ...this.workers, this.temporal, this.postgres]) {
      const pid = service.pid();
      if (pid !== undefined) killTree(processTree(pid).map((p) => p.pid));
    }
  }

  private postgresService(): Service {
    let host: ChildProcess | undefined;
    let frozen: number[] = [];
    const dataDir = join(this.options.dir, 'postgres');
    const service: Service = {
      name: 'postgres',
      pid: () => (host?.exitCode === null && host.signalCode === null ? host.pid : undefined),
      start: async () => {
        const child = fork(PG_HOST, [], {
          execArgv: ['--import', 'tsx'],
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            FAULTS_PG: JSON.stringify({
              dataDir,
              port: this.options.ports.postgres,
              // Temporal Server's pools beside Leadline's outgrow PostgreSQL's default 100.
              ...(this.options.temporalServer === undefined
                ? {}
                : { maxConnections: CLUSTER_POSTGRES_MAX_CONNECTIONS }),
            }),
          },
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        child.stdout?.pipe(this.logs, { end: false });
        child.stderr?.pipe(this.logs, { end: false });
        host = child;
        const ready = await new Promise<{ adminUrl: string; appUrl: string }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('PostgreSQL did not start within 90 s')), 90_000);
          child.on('message', (m: { type: string; adminUrl: string; appUrl: string }) => {
            if (m.type !== 'ready') return;
            clearTimeout(timer);
            resolve(m);
          });
          void exitOf(child).then(() => {
            clearTimeout(timer);
            reject(new Error(`PostgreSQL's host exited during start-up (see ${this.options.dir}/processes.log)`));
          });
        });
        this.databaseUrl = ready.appUrl;
        this.adminUrl = ready.adminUrl;
      },
      kill9: async () => {
        if (host === undefined) return;
        // The postmaster and its backends (a crash of the server), then the host that started it.
        const postmaster = await postmasterPid(dataDir);
        const tree = postmaster === undefined ? [] : processTree(postmaster).map((p) => p.pid);
        killTree(tree);
        const child = host;
        killTree([child.pid ?? -1]);
        await exitOf(child);
        // The backends may outlive the postmaster by a moment; a new postmaster refuses shared memory still in use.
        for (let i = 0; i < 50 && tree.some(alive); i++) await sleep(100);
      },
      freeze: async () => {
        const postmaster = await postmasterPid(dataDir);
        if (postmaster === undefined) throw new Error('no PostgreSQL to freeze: postmaster.pid is missing');
        // A backend may exit between the listing and the signal (ESRCH); one forked meanwhile is not stopped.
        frozen = processTree(postmaster).map((p) => p.pid);
        for (const pid of frozen) signal(pid, 'SIGSTOP');
        await Promise.resolve();
      },
      thaw: async () => {
        for (const pid of frozen) signal(pid, 'SIGCONT');
        frozen = [];
        await Promise.resolve();
      },
      stop: async () => {
        const child = host;
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
        child.send({ type: 'stop' });
        const timer = setTimeout(() => void service.kill9(), 30_000);
        await exitOf(child);
        clearTimeout(timer);
      },
    };
    return service;
  }

  private temporalService(): Service {
    let server: DevServerHandle | undefined;
    let pid: number | undefined;
    const serverPid = () =>
      processTree(process.pid).find((p) => p.comm === 'temporal' && p.pid !== process.pid && alive(p.pid))?.pid;
    return {
      name: 'temporal',
      pid: () => (pid !== undefined && alive(pid) ? pid : undefined),
      start: async () => {
        // The same command line and SQLite file as `npm start` (worker/temporal-dev-server.ts).
        server = await startTemporalDevServer({
          dbFile: join(this.options.dir, 'temporal.sqlite'),
          port: this.options.ports.temporal,
          uiPort: this.options.ports.temporalUi,
          namespace: 'default',
          logFile: createWriteStream(join(this.options.dir, 'temporal.log'), { flags: 'a' }),
        });
        pid = serverPid();
      },
      kill9: async () => {
        if (pid === undefined) return;
        killTree(processTree(pid).map((p) => p.pid));
        for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
        pid = undefined;
        server = undefined;
      },
      stop: async () => {
        await server?.stop();
        server = undefined;
        pid = undefined;
      },
    };
  }

  /** Temporal Server on the run's PostgreSQL (its own databases and login), killed and restarted by pid. */
  private temporalServerService(): Service {
    const choice = this.options.temporalServer as TemporalServerChoice;
    let server: TemporalServerHandle | undefined;
    const running = () => (server !== undefined && alive(server.pid) ? server.pid : undefined);
    return {
      name: 'temporal',
      pid: running,
      start: async () => {
        server = await startTemporalServer({
          binaries: choice.binaries,
          adminUrl: this.adminUrl,
          dataDir: join(this.options.dir, 'temporal-server'),
          ports: choice.ports,
          historyShards: choice.historyShards,
          namespace: 'default',
          logFile: join(this.options.dir, 'temporal.log'),
        });
      },
      kill9: async () => {
        const pid = running();
        if (pid === undefined) return;
        killTree(processTree(pid).map((p) => p.pid));
        await server?.exited;
        server = undefined;
      },
      stop: async () => {
        await server?.stop();
        server = undefined;
      },
    };
  }

  /** `npm start`'s command line with LEADLINE_ROLE=worker or api, against this cluster's servers. */
  private leadlineService(role: 'worker' | 'api', name: string): Service {
    let child: ChildProcess | undefined;
    return {
      name,
      pid: () => (child?.exitCode === null && child.signalCode === null ? child.pid : undefined),
      start: async () => {
        // From scratch, not from process.env: none of the user's LEADLINE_* or DATABASE_URL settings leak in.
        const env: NodeJS.ProcessEnv = {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          LEADLINE_ROLE: role,
          LEADLINE_DATA_DIR: join(this.options.dir, name),
          HOST: '127.0.0.1',
          PORT: String(role === 'api' ? this.options.ports.api : 0),
          DATABASE_URL: this.databaseUrl,
          DATABASE_ADMIN_URL: this.adminUrl,
          TEMPORAL_ADDRESS: this.temporalAddress,
          LEADLINE_TASK_QUEUE: this.options.taskQueue,
          LEADLINE_PAYLOAD_KEY: this.options.payloadKey,
          LEADLINE_FINGERPRINT_KEY: FINGERPRINT_KEY,
          LEADLINE_SLA_POLICY: this.options.policyFile,
          ...(this.identity === undefined ? {} : { LEADLINE_OIDC_ISSUER: this.identity.issuer }),
          LOG_LEVEL: 'info',
          ...this.options.extraEnv,
        };
        if (process.env.TEMPORAL_CLI_PATH !== undefined) env.TEMPORAL_CLI_PATH = process.env.TEMPORAL_CLI_PATH;
        const started = spawn(process.execPath, ['--import', TSX_MAIN_THREAD, START], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = started;
        started.stderr?.pipe(this.logs, { end: false });
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            killTree([started.pid ?? -1]);
            reject(new Error(`the ${name} process did not start within 120 s`));
          }, 120_000);
          let seen = '';
          started.stdout?.on('data', (chunk: Buffer) => {
            this.logs.write(chunk);
            if (seen.length < 20_000) seen += chunk.toString();
            if (seen.includes('Leadline is ready')) {
              clearTimeout(timer);
              seen = 'ready';
              resolve();
            }
          });
          void exitOf(started).then(() => {
            clearTimeout(timer);
            reject(new Error(`the ${name} process exited during start-up (see ${this.options.dir}/processes.log)`));
          });
        });
      },
      kill9: async () => {
        const running = child;
        if (running?.pid === undefined) return;
        // The process holds its threads (the workflow thread, the API thread); SIGKILL takes them all.
        killTree(processTree(running.pid).map((p) => p.pid));
        await exitOf(running);
      },
      stop: async () => {
        const running = child;
        if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
        running.kill('SIGTERM');
        const timer = setTimeout(() => killTree([running.pid ?? -1]), 30_000);
        await exitOf(running);
        clearTimeout(timer);
      },
    };
  }
}

/** Sends a signal to a process that may have exited meanwhile. */
function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The postmaster's pid: the first line of postmaster.pid in the data directory. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
