import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '../activities/db';
import { Keyring } from '../activities/keyring';
import { loadDirectory } from '../activities/directory';
import { readEnv } from '../activities/config';
import { loadDevIdentities, startDevIdentityProvider } from './identity-provider';
import { writeKeyringFile } from '../activities/keys';
import {
  CLUSTER_POSTGRES_MAX_CONNECTIONS,
  TEMPORAL_SERVER_VERSION,
  ensureTemporalServer,
  standardPorts,
  startTemporalServer,
  type TemporalServerHandle,
} from './temporal-server';
import {
  ensureTemporalUi,
  startSignedInTemporalUi,
  temporalUiClient,
  temporalUiStartLines,
  temporalUiUrl,
} from './temporal-ui';

/*
 * `npm run cluster`: Leadline as an agency runs it, on this machine. Temporal Server on PostgreSQL (built from its Go
 * module once per version), two worker processes (LEADLINE_ROLE=worker) and one API process (LEADLINE_ROLE=api), each
 * an OS process of its own, started and stopped by pid, and Temporal's UI server (also built once per version), signing
 * people in to the OpenID provider and decoding through the API's codec with their token. Ctrl-C stops the UI, the
 * API, then the workers (finishing their tasks), then Temporal, then PostgreSQL. Data stays in
 * LEADLINE_DATA_DIR/cluster, apart from `npm start`'s.
 */

const START = fileURLToPath(new URL('./start.ts', import.meta.url));
/** As `npm start` runs: tsx in the main thread only (worker/tsx-main-thread.mjs says why). */
const TSX_MAIN_THREAD = new URL('./tsx-main-thread.mjs', import.meta.url).href;
const WORKERS = 2;

interface LeadlineProcess {
  name: string;
  pid: number;
  /** The messages the process printed while starting (where it listens). */
  banner: string[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const say = (line: string) => console.log(line);
const started = Date.now();
const children: ChildProcess[] = [];
// Whatever ends this process (an error, a second Ctrl-C), the processes it started do not outlive it.
process.on('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

async function main() {
  const cfg = readEnv();
  const dir = join(cfg.LEADLINE_DATA_DIR, 'cluster');
  mkdirSync(dir, { recursive: true });
  const shards = Number(process.env.LEADLINE_CLUSTER_HISTORY_SHARDS ?? 4);
  if (!Number.isInteger(shards) || shards < 1)
    throw new Error('LEADLINE_CLUSTER_HISTORY_SHARDS must be a positive integer');
  const codecPort = Number(process.env.LEADLINE_CLUSTER_CODEC_PORT ?? 3443);
  if (!Number.isInteger(codecPort) || codecPort < 0 || codecPort > 65535)
    throw new Error('LEADLINE_CLUSTER_CODEC_PORT must be a port number');
  say('Leadline cluster is starting...');
  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => say(`cluster: error while stopping: ${(error as Error).message}`));
    }
  };
  const onSignal = (signal: string) => {
    if (stopping) return;
    say(`\n${signal}: stopping the Temporal UI, the API, the workers, Temporal and PostgreSQL...`);
    void stopAll().then(() => {
      say('Leadline cluster stopped.');
      process.exit(0);
    });
  };
  try {
    const binaries = await ensureTemporalServer(say);
    const uiBinary = await ensureTemporalUi(say);

    let adminUrl: string;
    let appUrl: string;
    const externalAdmin = process.env.DATABASE_ADMIN_URL;
    if (externalAdmin !== undefined && externalAdmin !== '') {
      if (cfg.DATABASE_URL === undefined) {
        throw new Error('DATABASE_ADMIN_URL is set: set DATABASE_URL too (the application login the processes use)');
      }
      adminUrl = externalAdmin;
      appUrl = cfg.DATABASE_URL;
      say(`PostgreSQL      ${redact(appUrl)} (from DATABASE_URL; Temporal's databases made with DATABASE_ADMIN_URL)`);
    } else {
      const pgDir = join(dir, 'postgres');
      const embedded = await startEmbeddedPostgres({
        dataDir: pgDir,
        port: cfg.EMBEDDED_POSTGRES_PORT,
        persistent: true,
        maxConnections: CLUSTER_POSTGRES_MAX_CONNECTIONS,
      });
      stops.push(() => embedded.stop());
      adminUrl = embedded.adminUrl;
      appUrl = embedded.appUrl;
      say(`PostgreSQL      ${redact(appUrl)} (embedded, data in ${pgDir}, migrated)`);
    }
    // embedded-postgres kills PostgreSQL and exits at once on these; the order below needs the database to the end.
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));

    const temporalLog = join(dir, 'temporal.log');
    const temporal: TemporalServerHandle = await startTemporalServer({
      binaries,
      adminUrl,
      dataDir: join(dir, 'temporal'),
      ports: standardPorts(cfg.TEMPORAL_DEV_PORT),
      historyShards: shards,
      namespace: cfg.TEMPORAL_NAMESPACE,
      logFile: temporalLog,
    });
    stops.push(() => temporal.stop());
    say(
      `Temporal        ${temporal.address} (Temporal Server ${TEMPORAL_SERVER_VERSION}, pid ${temporal.pid}: frontend, ` +
        `history, matching and worker services; ${shards} history shards; PostgreSQL databases ` +
        `${temporal.databases.history} and ${temporal.databases.visibility}, SQL visibility; log ${temporalLog}), ` +
        `namespace ${cfg.TEMPORAL_NAMESPACE}`,
    );
    watch('Temporal Server', temporal.exited, () => stopping);

    // One keyring for all three processes: workers seal what the API opens. The operator's, when configured.
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LEADLINE_METRICS_ADDRESS; // one port, several processes
    // npm start's choice of UI: a worker or API process refuses LEADLINE_TEMPORAL_UI=server; the cluster runs its own.
    delete env.LEADLINE_TEMPORAL_UI;
    // The cluster's Temporal Server is plain gRPC on loopback: an operator's TLS or API key is for another cluster.
    for (const name of Object.keys(env))
      if (name.startsWith('TEMPORAL_TLS') || name === 'TEMPORAL_API_KEY') delete env[name];
    // Worker and API processes refuse the public development key of lead ids and digests: one of the cluster's own,
    // kept with its data so a lead's id stays the same across restarts.
    if (env.LEADLINE_FINGERPRINT_KEY === undefined) {
      const file = join(dir, 'fingerprint.key');
      if (!existsSync(file)) {
        // Whole or not at all: written aside, then linked in (which fails if another start linked one first), so a
        // kill -9 mid-write leaves no half key that would rename every keyed lead on the next start.
        const aside = `${file}.${process.pid}.tmp`;
        writeFileSync(aside, randomBytes(32).toString('base64url'), { mode: 0o600 });
        try {
          linkSync(aside, file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        } finally {
          unlinkSync(aside);
        }
      }
      env.LEADLINE_FINGERPRINT_KEY = readFileSync(file, 'utf8').trim();
    }
    if (env.LEADLINE_KEYRING === undefined && env.LEADLINE_PAYLOAD_KEY === undefined) {
      const file = join(dir, 'keyring.json');
      if (!existsSync(file)) writeKeyringFile(file, Keyring.single(randomBytes(32)), { exclusive: true });
      env.LEADLINE_KEYRING = file;
    }
    const common = { ...env, DATABASE_URL: appUrl, TEMPORAL_ADDRESS: temporal.address };

    const workers = await Promise.all(
      Array.from({ length: WORKERS }, (_, i) =>
        startLeadlineProcess(`worker-${i + 1}`, dir, {
          ...common,
          LEADLINE_ROLE: 'worker',
          DATABASE_ADMIN_URL: adminUrl,
          LEADLINE_DATA_DIR: join(dir, `worker-${i + 1}`),
        }),
      ),
    );
    for (const worker of workers) {
      stops.push(() => worker.stop());
      say(
        `Worker ${worker.name.slice(-1)}        pid ${worker.pid}, task queue ${cfg.LEADLINE_TASK_QUEUE} ` +
          `(LEADLINE_ROLE=worker; log ${join(dir, `${worker.name}.log`)})`,
      );
      watch(worker.name, worker.exited, () => stopping);
    }
    // An API process trusts the agency's OpenID provider; without one, the development provider `npm start` runs,
    // here in this process (users in config/dev-identities.json).
    let issuer = cfg.LEADLINE_OIDC_ISSUER;
    // The Temporal UI's client at that provider: the development provider's `temporal-ui`, or the agency's.
    let uiClient: { clientId: string; secret: string } | string;
    if (issuer === undefined) {
      const identities = await loadDevIdentities(await loadDirectory(cfg.LEADLINE_DIRECTORY));
      uiClient = temporalUiClient(cfg, identities);
      const idp = await startDevIdentityProvider({
        identities,
        audience: cfg.LEADLINE_OIDC_AUDIENCE,
        port: cfg.LEADLINE_OIDC_DEV_PORT,
      });
      stops.push(() => idp.stop());
      issuer = idp.issuer;
      say(
        `Sign-in         ${issuer} (development OpenID provider; users in config/dev-identities.json: ` +
          '`npx leadline login --as hq`)',
      );
    } else {
      say(`Sign-in         ${issuer} (LEADLINE_OIDC_ISSUER), audience ${cfg.LEADLINE_OIDC_AUDIENCE}`);
      uiClient = temporalUiClient(cfg, null);
    }
    const uiUrl = temporalUiUrl(cfg.TEMPORAL_UI_PORT);
    const api = await startLeadlineProcess('api', dir, {
      ...common,
      LEADLINE_OIDC_ISSUER: issuer,
      LEADLINE_ROLE: 'api',
      LEADLINE_DATA_DIR: join(dir, 'api'),
      // The UI's page calls the codec server from its origin (CORS).
      ...(typeof uiClient === 'string' ? {} : { LEADLINE_TEMPORAL_UI_URL: uiUrl }),
    });
    stops.push(() => api.stop());
    watch('the API', api.exited, () => stopping);
    for (const line of api.banner.filter((l) => /^(HTTP API|Console) /.test(l))) {
      say(line.startsWith('HTTP API') ? `${line}, pid ${api.pid} (LEADLINE_ROLE=api)` : line);
    }
    const apiUrl = /^HTTP API\s+(\S+)/m.exec(api.banner.join('\n'))?.[1];
    if (typeof uiClient === 'string' || apiUrl === undefined) {
      say(
        `Temporal UI     none: ${typeof uiClient === 'string' ? uiClient : 'the API named no address'}; ` +
          `\`.tools/temporal/bin/temporal workflow list --address ${temporal.address}\` lists leads`,
      );
    } else {
      const ui = await startSignedInTemporalUi({
        binary: uiBinary,
        temporalAddress: temporal.address,
        namespace: cfg.TEMPORAL_NAMESPACE,
        uiPort: cfg.TEMPORAL_UI_PORT,
        codecPort,
        apiUrl,
        issuer,
        audience: cfg.LEADLINE_OIDC_AUDIENCE,
        client: uiClient,
        dir,
      });
      stops.push(() => ui.stop());
      watch('the Temporal UI', ui.ui.exited, () => stopping);
      for (const line of temporalUiStartLines({ started: ui, issuer, clientId: uiClient.clientId, apiUrl, dir })) {
        say(line);
      }
    }
    say(`Leadline cluster is ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Press Ctrl-C to stop.`);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Says so when a process ends that nobody stopped: the others carry on (a worker's leads go to the other one). */
function watch(name: string, exited: Promise<number | null>, stopping: () => boolean) {
  void exited.then((code) => {
    if (!stopping()) say(`cluster: ${name} exited (code ${code}); the other processes carry on`);
  });
}

/** `npm start`'s command line in a process of its own; resolves once it says it is ready. */
async function startLeadlineProcess(name: string, dir: string, env: NodeJS.ProcessEnv): Promise<LeadlineProcess> {
  const logFile = join(dir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', TSX_MAIN_THREAD, START], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C reaches this process only, which stops the others in order.
    detached: true,
  });
  children.push(child);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const banner: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 120 s (log ${logFile})`)), 120_000);
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (!seen.includes('Leadline is ready')) return;
      child.stdout.off('data', onData);
      clearTimeout(timer);
      banner.push(...seen.split('\n').map(messageOf));
      resolve();
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) during start-up; see ${logFile}`));
    });
  });
  return {
    name,
    pid: child.pid ?? -1,
    banner,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // worker/start.ts stops in order on SIGTERM: the API drains, a worker finishes its tasks.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A line a process printed, as words: its stdout is a pipe here, so Leadline's logger writes pino JSON lines (the
 * message is `msg`); a plain line (LEADLINE_LOG_PRETTY=1) is kept as it is.
 */
function messageOf(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const { msg } = JSON.parse(line) as { msg?: unknown };
    return typeof msg === 'string' ? msg : line;
  } catch {
    return line;
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

main().catch((error: unknown) => {
  console.error(`Leadline cluster did not start: ${(error as Error).message}`);
  process.exit(1);
});
