import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type pg from 'pg';
import { createPool, migrate, redactUrl, startEmbeddedPostgres, waitForMigrations } from '../activities/db';
import type { LeadClient } from '../client/lead-client';
import type { SlaPolicy } from '../schemas/sla-policy';
import { loadSlaPolicy, temporalConnectionOptions, type LeadlineEnv } from '../activities/config';
import { assertKeyringCoversData, loadKeyring } from '../activities/keys';
import { bindKeyring } from '../activities/field-crypto';
import { runsCompiled } from '../activities/package-files';
import { LeadPayloadCodec } from '../activities/payload-codec';
import { startTemporalDevServer } from './temporal-dev-server';
import { installRuntime } from './runtime';
import { createLogger, prettyOutput } from '../activities/logger';
import type { Logger } from 'pino';
import { startWorkerReconciler } from './reconciler';
import { startHealthServer } from './health';
import { createLeadWorker, leadActivitiesFromConfig } from './worker';
import { leadClientFor, startApiSide, type ApiSide, type ApiSideOptions } from './api-side';
import type { ApiThreadMessage } from './api-thread-main';
import { Worker } from 'node:worker_threads';
import { loadDirectory } from '../activities/directory';
import { loadDevIdentities, startDevIdentityProvider } from './identity-provider';
import {
  ensureTemporalUi,
  startSignedInTemporalUi,
  temporalUiClient,
  temporalUiStartLines,
  temporalUiUrl as temporalUiServerUrl,
} from './temporal-ui';

export interface RunningLeadline {
  /** Null when LEADLINE_ROLE is worker. */
  apiUrl: string | null;
  /** The OpenID provider the API trusts (the development one when LEADLINE_OIDC_ISSUER is unset); null without an API. */
  oidcIssuer: string | null;
  temporalAddress: string;
  temporalUiUrl: string | null;
  databaseUrl: string;
  policy: SlaPolicy;
  pool: pg.Pool;
  leads: LeadClient;
  /** Stops the API, then the worker (finishing its tasks), then the servers it started. */
  stop(): Promise<void>;
}

type Say = (line: string) => void;

/** How long an API-only process waits for the workers to migrate the database before it gives up. */
const SCHEMA_WAIT_MS = 60_000;

/** Brings up the whole system: PostgreSQL, Temporal, the worker and the HTTP API, each embedded unless configured. */
export async function startLeadline(
  cfg: LeadlineEnv,
  log: Logger = createLogger({ name: 'leadline', level: cfg.LOG_LEVEL }),
): Promise<RunningLeadline> {
  installRuntime(cfg.LOG_LEVEL, cfg.LEADLINE_METRICS_ADDRESS);
  const say: Say = (line) => log.info(line);
  const stops: (() => Promise<void>)[] = [];
  // Set once stopping begins: PostgreSQL's goodbye to connections the pool is closing (57P01) is no news then.
  let stopping = false;
  // The steps a person watches for at Ctrl-C, logged as each ends (the others are quiet).
  const said = (line: string, stop: () => Promise<void>) => async () => {
    await stop();
    log.info(line);
  };
  const stopAll = async () => {
    stopping = true;
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log.error({ err: error }, 'error while stopping');
      }
    }
  };
  try {
    const policy = loadSlaPolicy(cfg);
    mkdirSync(cfg.LEADLINE_DATA_DIR, { recursive: true });
    // Temporal's UI server instead of the dev server's embedded UI (readEnv allows it only with the dev server and the
    // API here): built before anything starts, the first time (minutes, said as it begins), else taken from the cache.
    const uiServer = cfg.LEADLINE_TEMPORAL_UI === 'server' ? await ensureTemporalUi(say) : null;

    const runsWorker = cfg.LEADLINE_ROLE !== 'api';
    const runsApi = cfg.LEADLINE_ROLE !== 'worker';
    // Before any server starts: a data directory with data but no keyring refuses here, rather than a new key being
    // made over data it cannot read. An API process never makes one: it must use the workers'.
    const { keyring, source: keyringSource } = loadKeyring(cfg, { create: runsWorker });
    let databaseUrl: string;
    if (cfg.DATABASE_URL !== undefined) {
      // Schema changes are the workers' to make: an API process starts against the schema they left.
      if (runsWorker) await migrate(cfg.DATABASE_ADMIN_URL ?? cfg.DATABASE_URL);
      databaseUrl = cfg.DATABASE_URL;
      say(`PostgreSQL      ${redactUrl(databaseUrl)} (from DATABASE_URL${runsWorker ? ', migrated' : ''})`);
    } else {
      const pgDir = join(cfg.LEADLINE_DATA_DIR, 'postgres');
      const embedded = await startEmbeddedPostgres({
        dataDir: pgDir,
        port: cfg.EMBEDDED_POSTGRES_PORT,
        persistent: true,
      });
      stops.push(said('PostgreSQL stopped', () => embedded.stop()));
      databaseUrl = embedded.appUrl;
      say(`PostgreSQL      ${redactUrl(databaseUrl)} (embedded, data in ${pgDir}, migrated)`);
    }
    const pool = createPool(databaseUrl, {
      max: 20,
      queryTimeoutMs: cfg.LEADLINE_DB_QUERY_TIMEOUT * 1000,
      onIdleError: (error: Error & { code?: string }) => {
        if (stopping && error.code === '57P01') return;
        log.warn({ code: error.code ?? 'no code' }, 'idle PostgreSQL connection failed');
      },
    });
    stops.push(() => pool.end());
    if (!runsWorker) await waitForMigrations(pool, SCHEMA_WAIT_MS);
    bindKeyring(pool, keyring);
    // Every key the stored leads were sealed with must be here, or the start stops, naming the missing key ids.
    await assertKeyringCoversData(pool, keyring);

    let temporalAddress: string;
    let temporalUiUrl: string | null = null;
    if (cfg.TEMPORAL_ADDRESS !== undefined) {
      temporalAddress = cfg.TEMPORAL_ADDRESS;
      say(`Temporal        ${temporalAddress} (from TEMPORAL_ADDRESS), namespace ${cfg.TEMPORAL_NAMESPACE}`);
    } else {
      const dbFile = join(cfg.LEADLINE_DATA_DIR, 'temporal.sqlite');
      const server = await startTemporalDevServer({
        dbFile,
        port: cfg.TEMPORAL_DEV_PORT,
        // Headless when the UI server takes the UI's port, once the API it decodes through is up (below).
        uiPort: uiServer === null ? cfg.TEMPORAL_UI_PORT : null,
        // The embedded UI asks the API's codec server, but sends no token, so it shows ciphertext (docs/security.md).
        ...(runsApi && uiServer === null ? { uiCodecEndpoint: `http://${cfg.HOST}:${cfg.PORT}/codec` } : {}),
        namespace: cfg.TEMPORAL_NAMESPACE,
        logFile: createWriteStream(join(cfg.LEADLINE_DATA_DIR, 'temporal.log'), { flags: 'a' }),
      });
      stops.push(said('Temporal dev server stopped', () => server.stop()));
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl ?? temporalUiServerUrl(cfg.TEMPORAL_UI_PORT);
      say(
        `Temporal        ${temporalAddress} (dev server${server.uiUrl === null ? ' without its UI' : ''}, SQLite ` +
          `${dbFile}), namespace ${cfg.TEMPORAL_NAMESPACE}`,
      );
      if (server.uiUrl !== null) say(`Temporal UI     ${server.uiUrl}`);
    }

    const payloadCodec = new LeadPayloadCodec(keyring);
    say(
      `Keys            ${keyringSource}: current key ${keyring.currentId} encrypts Temporal payloads and stored ` +
        `intakes (AES-256-GCM)${keyring.ids().length > 1 ? `; ${keyring.ids().length - 1} older keys decrypt` : ''}`,
    );

    // TLS applies to a cluster of the operator's (TEMPORAL_ADDRESS), never to the dev server started here on loopback.
    const temporalOptions =
      cfg.TEMPORAL_ADDRESS === undefined
        ? { address: temporalAddress }
        : temporalConnectionOptions(cfg, temporalAddress);
    if (runsWorker) {
      const nativeConnection = await NativeConnection.connect(temporalOptions);
      stops.push(() => nativeConnection.close());
      const worker = await createLeadWorker({
        connection: nativeConnection,
        namespace: cfg.TEMPORAL_NAMESPACE,
        taskQueue: cfg.LEADLINE_TASK_QUEUE,
        activities: await leadActivitiesFromConfig(pool, cfg),
        payloadCodec,
        cachedLeads: cfg.LEADLINE_CACHED_LEADS,
        stickyQueueTimeoutSeconds: cfg.LEADLINE_STICKY_QUEUE_TIMEOUT,
        workflowStackTraces: cfg.LEADLINE_WORKFLOW_STACK_TRACES,
      });
      const running = worker.run();
      stops.push(
        said('Worker drained and stopped', async () => {
          worker.shutdown();
          await running;
        }),
      );
      say(
        `Worker          task queue ${cfg.LEADLINE_TASK_QUEUE}, SLA policy ${policy.version} (time scale ${policy.timeScale})`,
      );
      if (cfg.LEADLINE_HEALTH_ADDRESS !== undefined) {
        const health = await startHealthServer(cfg.LEADLINE_HEALTH_ADDRESS, {
          // run() rejecting ends the process; a worker stopping or draining is not healthy either.
          worker: () => {
            const state = worker.getState();
            if (state !== 'RUNNING') throw Object.assign(new Error(`worker ${state}`), { code: state });
          },
          postgres: () => pool.query('SELECT 1'),
        });
        stops.push(() => health.stop());
        say(`Worker health   ${health.url}`);
      }
      if (cfg.LEADLINE_METRICS_ADDRESS !== undefined) {
        say(`Worker metrics  http://${cfg.LEADLINE_METRICS_ADDRESS}/metrics (Prometheus)`);
      }
    } else {
      say(`Worker          none here (LEADLINE_ROLE=api): leads are worked by the worker processes`);
    }

    const connection = await Connection.connect(temporalOptions);
    stops.push(() => connection.close());
    const temporal = new Client({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      dataConverter: { payloadCodecs: [payloadCodec] },
    });
    if (runsWorker && cfg.LEADLINE_RECONCILE_INTERVAL !== 'off') {
      const interval = cfg.LEADLINE_RECONCILE_INTERVAL;
      const reconciler = await startWorkerReconciler({
        pool,
        client: temporal,
        cfg,
        policy,
        intervalSeconds: interval,
      });
      stops.push(() => reconciler.stop());
      say(`Reconciler      every ${interval} s: open leads whose workflow is not running restart from their log`);
    }
    // For callers in this process (scripts/demo.ts); the API side has a client of its own (with the intake queue).
    const leads = leadClientFor({ temporal, pool, cfg, policy });
    let apiUrl: string | null = null;
    let oidcIssuer: string | null = null;
    if (runsApi) {
      let apiCfg: LeadlineEnv = {
        ...cfg,
        ...(temporalUiUrl === null || cfg.LEADLINE_TEMPORAL_UI_URL !== undefined
          ? {}
          : { LEADLINE_TEMPORAL_UI_URL: temporalUiUrl }),
      };
      // The UI server's confidential client at the provider, as the cluster's (worker/temporal-ui.ts).
      let uiClient: ReturnType<typeof temporalUiClient> = 'no UI server';
      if (cfg.LEADLINE_OIDC_ISSUER === undefined) {
        const identities = await loadDevIdentities(await loadDirectory(cfg.LEADLINE_DIRECTORY));
        if (uiServer !== null) uiClient = temporalUiClient(cfg, identities);
        const idp = await startDevIdentityProvider({
          identities,
          audience: cfg.LEADLINE_OIDC_AUDIENCE,
          port: cfg.LEADLINE_OIDC_DEV_PORT,
        });
        stops.push(() => idp.stop());
        apiCfg = { ...apiCfg, LEADLINE_OIDC_ISSUER: idp.issuer };
        say(
          `Sign-in         ${idp.issuer} (development OpenID provider; users in config/dev-identities.json: ` +
            '`npx leadline login --as hq`)',
        );
      } else {
        if (uiServer !== null) uiClient = temporalUiClient(cfg, null);
        say(
          `Sign-in         ${cfg.LEADLINE_OIDC_ISSUER} (LEADLINE_OIDC_ISSUER), audience ${cfg.LEADLINE_OIDC_AUDIENCE}`,
        );
      }
      if (uiServer !== null && typeof uiClient === 'string') {
        throw new Error(`LEADLINE_TEMPORAL_UI is server, but the UI server has no client to sign in as: ${uiClient}`);
      }
      oidcIssuer = apiCfg.LEADLINE_OIDC_ISSUER ?? null;
      const sideOptions: ApiSideOptions = {
        cfg: apiCfg,
        databaseUrl,
        temporalAddress,
        keyring: keyring.toJson(),
        policy,
      };
      // Beside a worker, the API gets a thread, so an event loop, of its own: requests do not wait behind the
      // worker's activations (intake at 50/s, one process: see docs/performance.md).
      const side = runsWorker
        ? await startApiThread(sideOptions, log)
        : await startApiSide(sideOptions, { pool, connection });
      stops.push(said('HTTP API stopped', () => side.stop()));
      apiUrl = side.url;
      say(`HTTP API        ${apiUrl} (docs ${apiUrl}/docs)${runsWorker ? ', on a thread of its own' : ''}`);
      say(
        `Console         ${apiUrl}/console/` +
          (cfg.LEADLINE_OIDC_ISSUER === undefined ? ' (sign in as a user of config/dev-identities.json, e.g. hq)' : ''),
      );
      if (uiServer !== null && typeof uiClient !== 'string' && oidcIssuer !== null) {
        // As `npm run cluster` runs it: the API's codec behind an https front, the UI signing people in at the provider.
        const ui = await startSignedInTemporalUi({
          binary: uiServer,
          temporalAddress,
          namespace: cfg.TEMPORAL_NAMESPACE,
          uiPort: cfg.TEMPORAL_UI_PORT,
          codecPort: cfg.LEADLINE_TEMPORAL_UI_CODEC_PORT,
          apiUrl,
          issuer: oidcIssuer,
          audience: cfg.LEADLINE_OIDC_AUDIENCE,
          client: uiClient,
          dir: cfg.LEADLINE_DATA_DIR,
        });
        stops.push(said('Temporal UI and its codec front stopped', () => ui.stop()));
        void ui.ui.exited.then((code) => {
          if (!stopping) log.warn(`the Temporal UI server exited (code ${code}); the rest of Leadline carries on`);
        });
        for (const line of temporalUiStartLines({
          started: ui,
          issuer: oidcIssuer,
          clientId: uiClient.clientId,
          apiUrl,
          dir: cfg.LEADLINE_DATA_DIR,
        })) {
          say(line);
        }
      }
    } else {
      say(`HTTP API        none here (LEADLINE_ROLE=worker)`);
    }

    let stopped: Promise<void> | undefined;
    return {
      apiUrl,
      oidcIssuer,
      temporalAddress,
      temporalUiUrl,
      databaseUrl,
      policy,
      pool,
      leads,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Runs the API side (worker/api-side.ts) in a worker thread; resolves once it listens. */
function startApiThread(options: ApiSideOptions, log: Logger): Promise<ApiSide> {
  // From source, a plain module registers tsx in the thread first (worker/api-thread.mjs); compiled, none is needed.
  const entry = runsCompiled ? './api-thread-main.js' : './api-thread.mjs';
  const thread = new Worker(new URL(entry, import.meta.url), {
    workerData: options,
    // The thread's stdout is a pipe to this one: it logs as this process does, pretty for a person at a terminal.
    env: { ...process.env, LEADLINE_LOG_PRETTY: prettyOutput() ? '1' : '0' },
  });
  return new Promise((resolve, reject) => {
    const exitedEarly = (code: number) => reject(new Error(`the API thread exited (code ${code}) before it listened`));
    thread.once('error', reject);
    thread.once('exit', exitedEarly);
    thread.on('message', (message: ApiThreadMessage) => {
      if (message.type === 'failed') {
        reject(new Error(message.message));
        return;
      }
      if (message.type !== 'ready') return;
      thread.off('error', reject);
      thread.off('exit', exitedEarly);
      // After start-up a failure of the thread takes the API down: said loudly; /readyz stops answering.
      thread.on('error', (error) => log.error({ err: error }, 'the API thread failed'));
      resolve({
        url: message.url,
        stop: () =>
          new Promise<void>((stopped) => {
            const timer = setTimeout(() => void thread.terminate(), 15_000);
            thread.once('exit', () => {
              clearTimeout(timer);
              stopped();
            });
            thread.postMessage({ type: 'stop' });
          }),
      });
    });
  });
}
