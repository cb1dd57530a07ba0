import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { Keyring, MissingKeyError } from './keyring';
import type { LeadlineEnv } from './config';

/*
 * Where the keyring comes from, the start's check that it holds every key the stored data needs, and `leadline keys`.
 *
 * A key is made only by a first start on an empty data directory. Any other start without its keys refuses, naming
 * the key ids it lacks: a key silently made anew would leave every open lead unreadable (each command answered 503,
 * the worker failing every activation) while the start looked healthy.
 */

export type KeyConfig = Pick<LeadlineEnv, 'LEADLINE_PAYLOAD_KEY' | 'LEADLINE_DATA_DIR'> & { LEADLINE_KEYRING?: string };

export interface LoadedKeyring {
  keyring: Keyring;
  /** Where it came from, for the start's lines (never a key). */
  source: string;
  /** The file `leadline keys rotate` writes, when the keyring is kept in one. */
  file?: string;
  /** A first start made it just now. */
  created: boolean;
}

/** The development keyring in the data directory (mode 0600). */
export const keyringFileOf = (dataDir: string) => join(dataDir, 'keyring.json');
/** The single key the data directory held before keyrings; still read, and folded into keyring.json by a rotation. */
export const legacyKeyFileOf = (dataDir: string) => join(dataDir, 'payload.key');

/** What in a data directory shows that it holds data a key protects: the embedded PostgreSQL cluster, Temporal's file. */
const DATA_IN_DIR = ['postgres', 'temporal.sqlite'];

/**
 * The keyring: LEADLINE_KEYRING (a file, or the JSON itself), else LEADLINE_PAYLOAD_KEY (one key), else the data
 * directory's keyring.json, else its payload.key; LEADLINE_PAYLOAD_KEY beside LEADLINE_KEYRING joins it as an older
 * key. With none of them, `create` makes keyring.json, but only in a data directory that holds no data yet.
 */
export function loadKeyring(cfg: KeyConfig, options: { create?: boolean } = {}): LoadedKeyring {
  const fromEnv = cfg.LEADLINE_KEYRING?.trim();
  if (fromEnv !== undefined && fromEnv !== '') {
    const inline = fromEnv.startsWith('{');
    const where = inline ? 'LEADLINE_KEYRING' : fromEnv;
    let keyring = Keyring.fromJson(inline ? parseJson(fromEnv, where) : readJson(fromEnv), where);
    if (cfg.LEADLINE_PAYLOAD_KEY !== undefined) {
      keyring = keyring.withOlderKey(Buffer.from(cfg.LEADLINE_PAYLOAD_KEY, 'base64'));
    }
    return { keyring, source: where, created: false, ...(inline ? {} : { file: fromEnv }) };
  }
  if (cfg.LEADLINE_PAYLOAD_KEY !== undefined) {
    return {
      keyring: Keyring.single(Buffer.from(cfg.LEADLINE_PAYLOAD_KEY, 'base64')),
      source: 'LEADLINE_PAYLOAD_KEY',
      created: false,
    };
  }
  const file = keyringFileOf(cfg.LEADLINE_DATA_DIR);
  if (existsSync(file)) return { keyring: Keyring.fromJson(readJson(file), file), source: file, file, created: false };
  const legacy = legacyKeyFileOf(cfg.LEADLINE_DATA_DIR);
  if (existsSync(legacy)) {
    const key = Buffer.from(readFileSync(legacy, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${legacy} does not hold base64 of 32 bytes`);
    return { keyring: Keyring.single(key), source: legacy, file, created: false };
  }
  const data = DATA_IN_DIR.filter((name) => existsSync(join(cfg.LEADLINE_DATA_DIR, name)));
  if (options.create !== true || data.length > 0) {
    throw new Error(
      `no keyring: neither LEADLINE_KEYRING nor LEADLINE_PAYLOAD_KEY is set, and ${cfg.LEADLINE_DATA_DIR} holds no ` +
        `keyring.json or payload.key` +
        (data.length > 0 ? ` though it holds data (${data.join(', ')}) encrypted under one` : '') +
        '. Leadline makes a key only on a first start with an empty data directory: restore the keyring from your ' +
        'backup (see docs/keys.md)',
    );
  }
  const keyring = Keyring.single(randomBytes(32));
  writeKeyringFile(file, keyring, { exclusive: true });
  return { keyring, source: `${file} (made now)`, file, created: true };
}

/** Writes the keyring readable by its owner only, whole or not at all (a temporary file renamed over it). */
export function writeKeyringFile(file: string, keyring: Keyring, options: { exclusive?: boolean } = {}): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const text = `${JSON.stringify(keyring.toJson(), null, 2)}\n`;
  if (options.exclusive === true) {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    return;
  }
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, file);
}

/**
 * Adds a new current key to the keyring kept in a file (LEADLINE_KEYRING's, or the data directory's). Older keys stay
 * to decrypt what they sealed. A keyring given inline or as LEADLINE_PAYLOAD_KEY alone lives in the deployment's
 * configuration, which this cannot edit: it says so instead.
 */
export function rotateKeyring(cfg: KeyConfig): { file: string; previous: string; current: string; keyIds: string[] } {
  const loaded = loadKeyring(cfg);
  if (loaded.file === undefined) {
    throw new Error(
      `the keyring comes from ${loaded.source}, not from a file this command can write: put it in a keyring file ` +
        '(LEADLINE_KEYRING=/path/keyring.json, see docs/keys.md) and rotate there, or add the key to your secret store',
    );
  }
  const rotated = loaded.keyring.rotated();
  writeKeyringFile(loaded.file, rotated);
  return { file: loaded.file, previous: loaded.keyring.currentId, current: rotated.currentId, keyIds: rotated.ids() };
}

/** The key ids PostgreSQL's encrypted rows name that `keyring` lacks (migrations/0007, leadline_key_ids). */
export async function missingKeyIds(pool: Pick<pg.Pool, 'query'>, keyring: Keyring): Promise<string[]> {
  const { rows } = await pool.query<{ key_id: string }>('SELECT key_id FROM leadline_key_ids() AS k(key_id)');
  return rows
    .map((r) => r.key_id)
    .filter((id) => !keyring.has(id))
    .sort();
}

/** Refuses the start when stored data needs a key the keyring lacks, naming each missing key id. */
export async function assertKeyringCoversData(pool: Pick<pg.Pool, 'query'>, keyring: Keyring): Promise<void> {
  const missing = await missingKeyIds(pool, keyring);
  if (missing.length > 0) throw new MissingKeyError(missing, "PostgreSQL's stored leads");
}

/**
 * `/readyz`'s keys check: fails, naming the key ids, while this process cannot decrypt what it must (a key stored data
 * needs is missing from its keyring, or Temporal handed its codec a payload under an unknown key). PostgreSQL is asked
 * at most once per `cacheMs`.
 */
export function keysReadinessCheck(options: {
  pool: Pick<pg.Pool, 'query'>;
  keyring: Keyring;
  /** Key ids this process's payload codec met and could not decode. */
  codecMissing?: () => string[];
  cacheMs?: number;
}): () => Promise<void> {
  const cacheMs = options.cacheMs ?? 5_000;
  let last: { at: number; missing: string[] } | undefined;
  return async () => {
    if (last === undefined || Date.now() - last.at > cacheMs) {
      last = { at: Date.now(), missing: await missingKeyIds(options.pool, options.keyring) };
    }
    const missing = [...new Set([...last.missing, ...(options.codecMissing?.() ?? [])])];
    if (missing.length > 0) throw new MissingKeyError(missing, 'leads');
  };
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the keyring ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return parseJson(text, file);
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The text is key material: never quoted.
    throw new Error(`the keyring in ${where} is not JSON`);
  }
}
