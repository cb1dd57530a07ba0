import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import pg from 'pg';
import { freePort, withDatabase } from '../activities/db';
import { leadSearchAttributes } from '../workflows/messages';
import { goInstall, leadlineCacheDir, runLogged } from './go-install';

/*
 * Temporal Server on PostgreSQL, as agencies run it: the server binary built from Temporal's Go module (pinned below),
 * its schema set up and migrated by Temporal's own schema tool, SQL visibility with Leadline's search attributes. One
 * OS process runs the frontend, history, matching and internal worker services; each still listens on its own gRPC
 * and membership ports and finds the others through the cluster_membership table, as separate processes would.
 */

export const TEMPORAL_SERVER_VERSION = '1.32.2';
/** The toolchain the server's go.mod asks for, fetched by the `go` command from the Go module proxy. */
export const TEMPORAL_SERVER_GO_TOOLCHAIN = 'go1.27.3';

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  /** `schema/postgresql/v12` of the server's module: `temporal/versioned` and `visibility/versioned`. */
  schemaDir: string;
}

/**
 * Where a built server is kept: outside any clone, so a fresh clone (CI's) reuses it; one folder per version, so a
 * version change builds anew. LEADLINE_CACHE_DIR moves it.
 */
export function temporalServerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(leadlineCacheDir(env), 'temporal-server', `v${TEMPORAL_SERVER_VERSION}`);
}

/**
 * The server, its schema tool and schema files: TEMPORAL_SERVER_PATH, TEMPORAL_SQL_TOOL_PATH and
 * TEMPORAL_SCHEMA_DIR when all are set; else the cache's, built there with `go install` when missing (about 11 minutes
 * on 2 cores the first time; `go` must be on PATH, and reaches the Go module proxy).
 */
export async function ensureTemporalServer(
  say: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalServerBinaries> {
  const fromEnv = [env.TEMPORAL_SERVER_PATH, env.TEMPORAL_SQL_TOOL_PATH, env.TEMPORAL_SCHEMA_DIR];
  if (fromEnv.every((value) => value !== undefined && value !== '')) {
    const [server, sqlTool, schemaDir] = fromEnv as [string, string, string];
    for (const path of fromEnv) if (!existsSync(path as string)) throw new Error(`${path} does not exist`);
    return { server, sqlTool, schemaDir };
  }
  const dir = temporalServerCacheDir(env);
  const binaries: TemporalServerBinaries = {
    server: join(dir, 'bin', 'temporal-server'),
    sqlTool: join(dir, 'bin', 'temporal-sql-tool'),
    schemaDir: join(dir, 'schema', 'postgresql', 'v12'),
  };
  const stamp = join(dir, 'complete.json');
  if (existsSync(stamp) && existsSync(binaries.server) && existsSync(binaries.sqlTool)) return binaries;

  const logFile = join(dir, 'build.log');
  mkdirSync(dir, { recursive: true });
  say(
    `Temporal Server ${TEMPORAL_SERVER_VERSION} is not built yet: building it with ${TEMPORAL_SERVER_GO_TOOLCHAIN} from ` +
      `the Go module proxy into ${dir} (about 11 min on 2 cores, once per version; log ${logFile})`,
  );
  const started = Date.now();
  const module = 'go.temporal.io/server';
  const built = await goInstall({
    dir,
    packages: [
      `${module}/cmd/server@v${TEMPORAL_SERVER_VERSION}`,
      `${module}/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`,
    ],
    toolchain: TEMPORAL_SERVER_GO_TOOLCHAIN,
    logFile,
    what: 'go install of Temporal Server',
    env,
  });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  renameSync(join(built, 'server'), binaries.server);
  renameSync(join(built, 'sql'), binaries.sqlTool);
  const moduleSchema = join(dir, 'go', 'mod', `${module}@v${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
  rmSync(binaries.schemaDir, { recursive: true, force: true });
  cpSync(moduleSchema, binaries.schemaDir, { recursive: true });
  writeFileSync(
    stamp,
    `${JSON.stringify({ version: TEMPORAL_SERVER_VERSION, toolchain: TEMPORAL_SERVER_GO_TOOLCHAIN, builtAt: new Date().toISOString() })}\n`,
  );
  say(`Temporal Server ${TEMPORAL_SERVER_VERSION} built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binaries;
}

export interface TemporalServerPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  frontendMembership: number;
  historyMembership: number;
  matchingMembership: number;
  workerMembership: number;
}

/** Temporal's usual ports around a frontend port (7233: 7234 history, 7235 matching, 7239 worker, 6933... membership). */
export function standardPorts(frontend: number): TemporalServerPorts {
  return {
    frontend,
    frontendHttp: frontend + 10,
    history: frontend + 1,
    matching: frontend + 2,
    worker: frontend + 6,
    frontendMembership: frontend - 300,
    historyMembership: frontend - 299,
    matchingMembership: frontend - 298,
    workerMembership: frontend - 294,
  };
}

/**
 * PostgreSQL connections a server beside Leadline wants: each of the four services in the process keeps pools of its
 * own to both databases (up to 4 x (8 + 2) here), and two workers and an API up to 20 each.
 */
export const CLUSTER_POSTGRES_MAX_CONNECTIONS = 300;

/**
 * Free ports for every service (tests, the bench and the fault suite run beside other runs). Below 32768: the
 * cluster_membership table keeps a service's port as a smallint, and a port the system hands out (32768 and up)
 * stops the server at start ("value out of range for type smallint").
 */
export async function freeServerPorts(): Promise<TemporalServerPorts> {
  const taken = new Set<number>();
  const next = async () => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = await freePort();
      // freePort looks below 32768 first; its last resort, a port the system hands out, would not fit.
      if (taken.has(port) || port > 32_767) continue;
      taken.add(port);
      return port;
    }
    throw new Error('no free ports below 32768 for Temporal Server');
  };
  return {
    frontend: await next(),
    frontendHttp: await next(),
    history: await next(),
    matching: await next(),
    worker: await next(),
    frontendMembership: await next(),
    historyMembership: await next(),
    matchingMembership: await next(),
    workerMembership: await next(),
  };
}

export interface TemporalServerOptions {
  binaries: TemporalServerBinaries;
  /** A superuser's URL on the PostgreSQL server that holds Temporal's databases (any database on it). */
  adminUrl: string;
  /** Config, dynamic config and Temporal's own login's password live here. */
  dataDir: string;
  ports: TemporalServerPorts;
  /** Fixed when the databases are first set up: the server refuses another number later. */
  historyShards: number;
  namespace: string;
  /** Days a closed workflow's history is kept. */
  retentionDays?: number;
  /** Prefix of Temporal's two databases (`<prefix>` and `<prefix>_visibility`) and of its login. */
  databasePrefix?: string;
  /** The server's output and the schema tool's (Temporal's; it holds no lead data, payloads being encrypted). */
  logFile: string;
  say?: (line: string) => void;
}

export interface TemporalServerHandle {
  address: string;
  pid: number;
  databases: { history: string; visibility: string };
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<void>;
  /** Resolves when the process exits, for whatever reason. */
  exited: Promise<number | null>;
}

/**
 * Creates Temporal's login and databases if missing, sets up or migrates their schema with the schema tool, starts the
 * server, and registers the namespace and Leadline's search attributes. Idempotent: a second start on the same
 * databases migrates nothing and registers nothing new.
 */
export async function startTemporalServer(options: TemporalServerOptions): Promise<TemporalServerHandle> {
  const prefix = options.databasePrefix ?? 'temporal';
  const databases = { history: prefix, visibility: `${prefix}_visibility` };
  mkdirSync(options.dataDir, { recursive: true });
  const login = { user: prefix, password: temporalPassword(options.dataDir) };
  const admin = new URL(options.adminUrl);
  const host = admin.hostname;
  const pgPort = Number(admin.port || 5432);
  await ensureTemporalDatabases(options.adminUrl, login, databases);

  const sqlEnv = {
    PATH: process.env.PATH,
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: host,
    SQL_PORT: String(pgPort),
    SQL_USER: login.user,
    SQL_PASSWORD: login.password,
  };
  for (const [database, dir] of [
    [databases.history, 'temporal'],
    [databases.visibility, 'visibility'],
  ] as const) {
    const env = { ...sqlEnv, SQL_DATABASE: database };
    const tool = { env, logFile: options.logFile, what: `temporal-sql-tool on ${database}` };
    // `setup-schema -v 0.0` creates only the version tables; `update-schema` applies each versioned step still missing.
    if (!(await hasSchemaVersionTable(options.adminUrl, database))) {
      await runLogged(options.binaries.sqlTool, ['setup-schema', '-v', '0.0'], tool);
    }
    await runLogged(
      options.binaries.sqlTool,
      ['update-schema', '-d', join(options.binaries.schemaDir, dir, 'versioned')],
      tool,
    );
  }

  const dynamicConfig = join(options.dataDir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfig, DYNAMIC_CONFIG);
  const configFile = join(options.dataDir, 'temporal-server.yaml');
  writeFileSync(configFile, serverConfig({ ...options, host, pgPort, login, databases, dynamicConfig }), {
    mode: 0o600,
  });
  const log = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(
    options.binaries.server,
    ['--config-file', configFile, '--allow-no-auth', 'start'],
    {
      stdio: ['ignore', log, log],
      // Its own process group: Ctrl-C in a terminal reaches whoever started it, which stops it in order.
      detached: true,
    },
  );
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `127.0.0.1:${options.ports.frontend}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await registerWhenUp(address, options, exited);
  } catch (error) {
    await stop();
    throw error;
  }
  return { address, pid: child.pid ?? -1, databases, stop, exited };
}

/** Temporal's own login's password: made once per data directory, readable by its owner only. */
function temporalPassword(dataDir: string): string {
  const file = join(dataDir, 'temporal-db-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomBytes(18).toString('base64url');
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${password}\n`, { mode: 0o600 });
  renameSync(temporary, file);
  return password;
}

async function ensureTemporalDatabases(
  adminUrl: string,
  login: { user: string; password: string },
  databases: { history: string; visibility: string },
): Promise<void> {
  const client = new pg.Client({ connectionString: withDatabase(adminUrl, 'postgres') });
  await client.connect();
  try {
    const user = client.escapeIdentifier(login.user);
    const existing = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [login.user]);
    const verb = existing.rowCount === 0 ? 'CREATE' : 'ALTER';
    // Temporal's login owns its two databases and nothing else: no superuser, no access to Leadline's.
    await client.query(
      `${verb} ROLE ${user} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${client.escapeLiteral(login.password)}`,
    );
    for (const database of [databases.history, databases.visibility]) {
      const found = await client.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [database]);
      if (found.rowCount === 0)
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)} OWNER ${user}`);
    }
  } finally {
    await client.end();
  }
}

async function hasSchemaVersionTable(adminUrl: string, database: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: withDatabase(adminUrl, database) });
  await client.connect();
  try {
    const { rows } = await client.query<{ present: boolean }>(
      `SELECT to_regclass('public.schema_version') IS NOT NULL AS present`,
    );
    return rows[0]?.present === true;
  } finally {
    await client.end();
  }
}

/**
 * Leadline's settings for the server, beside Temporal's defaults: search attributes visible as soon as registered
 * (the dev server does the same), and the timer and transfer queues polled as fast as the dev server's are
 * (worker/temporal-dev-server.ts: measured there on 1,000 simultaneous escalations), so both run the same workload alike.
 */
const DYNAMIC_CONFIG = `system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
limit.maxIDLength:
  - value: 255
history.transferProcessorMaxPollRPS:
  - value: 1000
history.timerProcessorMaxPollRPS:
  - value: 1000
`;

function serverConfig(
  o: TemporalServerOptions & {
    host: string;
    pgPort: number;
    login: { user: string; password: string };
    databases: { history: string; visibility: string };
    dynamicConfig: string;
  },
): string {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${o.host}:${o.pgPort}`,
      connectProtocol: 'tcp',
      user: o.login.user,
      password: o.login.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...(httpPort === undefined ? {} : { httpPort }) },
  });
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: o.historyShards,
      datastores: {
        // Per service: the frontend, history, matching and worker services each open pools of these sizes.
        'postgres-default': store(o.databases.history, 8),
        'postgres-visibility': store(o.databases.visibility, 2),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: service(o.ports.frontend, o.ports.frontendMembership, o.ports.frontendHttp),
      history: service(o.ports.history, o.ports.historyMembership),
      matching: service(o.ports.matching, o.ports.matchingMembership),
      worker: service(o.ports.worker, o.ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${o.ports.frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: o.dynamicConfig, pollInterval: '10s' },
  };
  // JSON is YAML: the server's loader reads it as its YAML config.
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** temporal.api.enums.v1.IndexedValueType numbers. */
const indexedValueType = { TEXT: 1, KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5, DATETIME: 6, KEYWORD_LIST: 7 } as const;

async function registerWhenUp(
  address: string,
  options: TemporalServerOptions,
  exited: Promise<number | null>,
): Promise<void> {
  const deadline = Date.now() + 90_000;
  let lastError: unknown;
  for (;;) {
    const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 500))]);
    if (early !== 'running') {
      throw new Error(
        `Temporal Server exited with code ${early} during start-up (see ${options.logFile}; is port ${options.ports.frontend} free?)`,
      );
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await ensureLeadNamespace(connection, options.namespace, options.retentionDays);
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Temporal Server did not answer on ${address} within 90 s: ${String(lastError)}`);
    }
  }
}

/**
 * Registers the namespace (unless it exists) and Leadline's search attributes in it (SQL visibility keeps them per
 * namespace), and waits until the frontend serves it.
 */
export async function ensureLeadNamespace(connection: Connection, namespace: string, retentionDays = 7): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (error) {
    if ((error as { code?: number }).code !== 5) throw error; // 5: NOT_FOUND
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`),
    });
  }
  // A new namespace reaches the frontend's cache within seconds: until then it is not found, for search attributes,
  // pollers and starts alike.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const listed = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = Object.values(leadSearchAttributes).filter(
        (key) => listed.customAttributes?.[key.name] === undefined,
      );
      if (missing.length > 0) {
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((key) => [key.name, indexedValueType[key.type]])),
        });
      }
      await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== 5 || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
