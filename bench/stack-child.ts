import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../activities/db';
import { readEnv } from '../activities/config';
import {
  CLUSTER_POSTGRES_MAX_CONNECTIONS,
  ensureTemporalServer,
  freeServerPorts,
  startTemporalServer,
} from '../worker/temporal-server';
import { startLeadline, type RunningLeadline } from '../worker/leadline';
import { leadBundlerOptions } from '../worker/worker';
import { BASELINE_TASK_QUEUE, type BaselineActivities } from './baseline-workflow';

/**
 * The system under test, in a process of its own so its memory and CPU can be read from /proc: Leadline as
 * `npm start` runs it (embedded PostgreSQL, Temporal dev server, worker, HTTP API), plus the baseline worker.
 * The parent sends its settings in BENCH_CHILD_CONFIG and talks to it over the IPC channel.
 */
export interface ChildConfig {
  dataDir: string;
  apiPort: number;
  postgresPort: number;
  temporalPort: number;
  temporalUiPort: number;
  logLevel: string;
  cachedLeads: number;
  /** The bench's clients must encrypt with the same key as the Leadline worker. */
  payloadKey: string;
  /** The development OpenID provider's port: the bench signs in there, as users of `npm start` do. */
  oidcPort: number;
  /** `cluster`: Temporal Server on this process's embedded PostgreSQL, as `npm run cluster` runs it. */
  temporal: 'dev' | 'cluster';
}

export type ToChild = { type: 'stop' } | { type: 'memory'; id: number };
export type FromChild =
  | {
      type: 'ready';
      apiUrl: string;
      temporalAddress: string;
      databaseUrl: string;
      taskQueue: string;
      startedInMs: number;
    }
  | { type: 'memory'; id: number; usage: NodeJS.MemoryUsage; heapLimitMb: number }
  | { type: 'failed'; message: string };

const send = (message: FromChild) => process.send?.(message);

const baselineActivities: BaselineActivities = {
  noop: () => Promise.resolve(),
};

async function main() {
  const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as ChildConfig;
  const started = Date.now();
  const servers: { stop(): Promise<void> }[] = [];
  let clusterEnv: Record<string, string> = {};
  if (config.temporal === 'cluster') {
    // PostgreSQL first (Temporal's databases live on it), then Temporal Server; Leadline is then pointed at both.
    const postgres = await startEmbeddedPostgres({
      dataDir: join(config.dataDir, 'postgres'),
      port: config.postgresPort,
      persistent: true,
      maxConnections: CLUSTER_POSTGRES_MAX_CONNECTIONS,
    });
    servers.unshift(postgres);
    const temporal = await startTemporalServer({
      binaries: await ensureTemporalServer((line) => console.log(line)),
      adminUrl: postgres.adminUrl,
      dataDir: join(config.dataDir, 'temporal-server'),
      ports: await freeServerPorts(),
      historyShards: 4,
      namespace: 'default',
      logFile: join(config.dataDir, 'temporal.log'),
    });
    servers.unshift(temporal);
    clusterEnv = {
      DATABASE_URL: postgres.appUrl,
      DATABASE_ADMIN_URL: postgres.adminUrl,
      TEMPORAL_ADDRESS: temporal.address,
    };
  }
  // Built from scratch, not from process.env: a user's DATABASE_URL or TEMPORAL_ADDRESS must not leak in.
  const cfg = readEnv({
    LEADLINE_DATA_DIR: config.dataDir,
    HOST: '127.0.0.1',
    PORT: String(config.apiPort),
    EMBEDDED_POSTGRES_PORT: String(config.postgresPort),
    TEMPORAL_DEV_PORT: String(config.temporalPort),
    TEMPORAL_UI_PORT: String(config.temporalUiPort),
    LOG_LEVEL: config.logLevel,
    LEADLINE_CACHED_LEADS: String(config.cachedLeads),
    LEADLINE_PAYLOAD_KEY: config.payloadKey,
    LEADLINE_OIDC_DEV_PORT: String(config.oidcPort),
    // The one setting taken from the user: the SDK's metrics, to watch the worker while the bench runs.
    ...(process.env.LEADLINE_METRICS_ADDRESS === undefined
      ? {}
      : { LEADLINE_METRICS_ADDRESS: process.env.LEADLINE_METRICS_ADDRESS }),
    ...clusterEnv,
  });
  let leadline: RunningLeadline | undefined;
  let baseline: { worker: Worker; running: Promise<void>; connection: NativeConnection } | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (baseline !== undefined) {
        baseline.worker.shutdown();
        await baseline.running.catch(() => undefined);
        await baseline.connection.close();
      }
      await leadline?.stop();
      for (const server of servers) await server.stop();
    })());

  process.on('message', (message: ToChild) => {
    if (message.type === 'memory') {
      send({
        type: 'memory',
        id: message.id,
        usage: process.memoryUsage(),
        heapLimitMb: v8.getHeapStatistics().heap_size_limit / 1024 / 1024,
      });
    } else if (message.type === 'stop') {
      void stop().finally(() => process.exit(0));
    }
  });
  // The bench died: take PostgreSQL and Temporal down rather than leave them running.
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', () => void stop().finally(() => process.exit(0)));
  process.on('SIGINT', () => undefined);

  try {
    leadline = await startLeadline(cfg);
    const connection = await NativeConnection.connect({ address: leadline.temporalAddress });
    // Same limits and bundle settings as the Leadline worker (worker/worker.ts): only the workflow and its activities differ.
    const worker = await Worker.create({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      taskQueue: BASELINE_TASK_QUEUE,
      workflowsPath: fileURLToPath(new URL('./baseline-workflow.ts', import.meta.url)),
      activities: baselineActivities,
      maxConcurrentActivityTaskExecutions: 100,
      maxCachedWorkflows: cfg.LEADLINE_CACHED_LEADS,
      bundlerOptions: leadBundlerOptions(cfg.LEADLINE_WORKFLOW_STACK_TRACES),
    });
    baseline = { worker, connection, running: worker.run() };
    if (leadline.apiUrl === null)
      throw new Error('the bench needs the API in its Leadline process (LEADLINE_ROLE all)');
    send({
      type: 'ready',
      apiUrl: leadline.apiUrl,
      temporalAddress: leadline.temporalAddress,
      databaseUrl: leadline.databaseUrl,
      taskQueue: cfg.LEADLINE_TASK_QUEUE,
      startedInMs: Date.now() - started,
    });
  } catch (error) {
    send({ type: 'failed', message: (error as Error).stack ?? String(error) });
    await stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
