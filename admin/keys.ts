import { readEnv } from '../activities/config';
import { openDatabase } from './database';
import { adminActor, type AdminExitCode, type AdminIo } from './io';
import { recordAudit } from '../activities/event-store';
import { loadKeyring, missingKeyIds, rotateKeyring } from '../activities/keys';

/*
 * `leadline keys rotate` and `leadline keys list`, run as `verify` and `rebuild` are (admin/commands.ts loads them on use).
 * Nothing here prints a key: only key ids, which name a key without revealing it.
 */

/** `leadline keys rotate`: a new current key in the keyring file; the older keys stay, to decrypt. */
export async function runKeysRotate(
  env: NodeJS.ProcessEnv,
  io: AdminIo,
  options: { actor?: string } = {},
): Promise<AdminExitCode> {
  let rotated: ReturnType<typeof rotateKeyring>;
  try {
    rotated = rotateKeyring(readEnv(env));
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 2;
  }
  io.out(
    `keyring ${rotated.file}: current key ${rotated.current} (was ${rotated.previous}); keys ${rotated.keyIds.join(', ')}`,
  );
  io.out(
    'restart every Leadline process with this keyring: until then they encrypt with the previous key, which stays in ' +
      'the keyring to decrypt what it sealed. Back up the keyring file now.',
  );
  // The rotation is audited where the database answers; a keyring file is rotated even when it does not.
  try {
    const db = await openDatabase(readEnv(env), () => undefined);
    try {
      await recordAudit(db.pool, {
        actor: options.actor ?? adminActor(env),
        leadId: null,
        action: 'RotateKey',
        outcome: 'recorded',
        detail: { current: rotated.current, previous: rotated.previous },
      });
    } finally {
      await db.close();
    }
  } catch (error) {
    io.err(`the rotation is not in the audit log: ${(error as Error).message}`);
  }
  return 0;
}

/** `leadline keys list`: the keyring's key ids, and (with the database) which ones its stored leads need. */
export async function runKeysList(
  env: NodeJS.ProcessEnv,
  io: AdminIo,
  options: { check?: boolean } = {},
): Promise<AdminExitCode> {
  try {
    const cfg = readEnv(env);
    const { keyring, source } = loadKeyring(cfg);
    io.out(`keyring ${source}`);
    for (const id of keyring.ids()) {
      const roles = [
        id === keyring.currentId ? 'current: encrypts' : 'decrypts',
        id === keyring.digestId ? 'digests' : '',
      ]
        .filter(Boolean)
        .join(', ');
      io.out(`  ${id}  ${roles}`);
    }
    if (options.check !== true) return 0;
    const db = await openDatabase(cfg, io.err);
    try {
      const missing = await missingKeyIds(db.pool, keyring);
      io.out(
        missing.length === 0
          ? 'every key the stored leads need is in the keyring'
          : `stored leads need keys the keyring lacks: ${missing.join(', ')}`,
      );
      return missing.length === 0 ? 0 : 1;
    } finally {
      await db.close();
    }
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 2;
  }
}
