import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { LeadlineEnv } from '../activities/config';
import { createPool, localEmbeddedAppUrl, redactUrl, startEmbeddedPostgres } from '../activities/db';
import { bindKeyring } from '../activities/field-crypto';
import { loadKeyring } from '../activities/keys';
import type { Say } from './io';

export interface AdminDatabase {
  pool: pg.Pool;
  /** Ends the pool, and stops the embedded server if this run started it. */
  close(): Promise<void>;
}

/**
 * DATABASE_URL when set; otherwise the embedded server in LEADLINE_DATA_DIR/postgres: the one `npm start`
 * runs if it answers on EMBEDDED_POSTGRES_PORT, else one started for this run and stopped by `close()`.
 * `keyring: false` binds no keyring, for a tool that reads only plain fields: nothing sealed can be opened through it.
 */
export async function openDatabase(
  cfg: LeadlineEnv,
  say: Say,
  options: { keyring?: boolean } = {},
): Promise<AdminDatabase> {
  // The keyring `npm start` uses: the tools read and fold sealed events, and write audit rows with digests.
  const keyring = options.keyring === false ? undefined : loadKeyring(cfg).keyring;
  const connectedPool = async (url: string, stopping?: () => boolean) => {
    const pool = await connectTo(url, stopping);
    if (keyring !== undefined) bindKeyring(pool, keyring);
    return pool;
  };
  if (cfg.DATABASE_URL !== undefined) {
    const pool = await connectedPool(cfg.DATABASE_URL);
    say(`PostgreSQL      ${redactUrl(cfg.DATABASE_URL)} (from DATABASE_URL)`);
    return { pool, close: () => pool.end() };
  }
  const port = cfg.EMBEDDED_POSTGRES_PORT;
  const url = localEmbeddedAppUrl(port);
  if (await answers(url, port)) {
    const pool = await connectedPool(url);
    say(`PostgreSQL      ${redactUrl(url)} (embedded, already running)`);
    return { pool, close: () => pool.end() };
  }
  const dataDir = join(cfg.LEADLINE_DATA_DIR, 'postgres');
  // An operator tool works on the database that exists: it never makes a new, empty one in the wrong folder.
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    throw new Error(
      `no Leadline database here: nothing answers on 127.0.0.1:${port} (EMBEDDED_POSTGRES_PORT) and ${dataDir} ` +
        'holds no PostgreSQL cluster. Run this where npm start ran (or set LEADLINE_DATA_DIR to its data folder), ' +
        'or set DATABASE_URL',
    );
  }
  const embedded = await startEmbeddedPostgres({ dataDir, port, persistent: true });
  try {
    let stopping = false;
    const pool = await connectedPool(embedded.appUrl, () => stopping);
    say(`PostgreSQL      ${redactUrl(embedded.appUrl)} (embedded, started for this run, data in ${dataDir})`);
    return {
      pool,
      async close() {
        stopping = true;
        await pool.end();
        await embedded.stop();
      },
    };
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

/** True when Leadline's embedded server answers; false when nothing listens; an error when something else does. */
async function answers(url: string, port: number): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await probe.connect();
    await probe.end();
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ECONNREFUSED') return false;
    throw new Error(
      `something answers on 127.0.0.1:${port} but not as Leadline's embedded PostgreSQL (${code ?? (error as Error).message}); ` +
        'set DATABASE_URL, or EMBEDDED_POSTGRES_PORT to the port npm start uses',
      { cause: error },
    );
  }
}

/** `stopping`: the server is being shut down on purpose, so its goodbye to closing connections is no news. */
async function connectTo(url: string, stopping = () => false): Promise<pg.Pool> {
  const pool = createPool(url, {
    max: 8,
    onIdleError: (error: Error & { code?: string }) => {
      // pg's pool resolves end() before its sockets close; the server's shutdown (57P01) can still reach them.
      if (stopping() && error.code === '57P01') return;
      console.warn(`leadline: idle PostgreSQL connection failed (${error.code ?? 'no code'})`);
    },
  });
  try {
    await pool.query('SELECT 1');
    return pool;
  } catch (error) {
    await pool.end();
    throw new Error(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message}`, { cause: error });
  }
}
