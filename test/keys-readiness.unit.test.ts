import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, MissingKeyError } from '../activities/keyring';
import { buildApi } from '../client/http';
import type { GuardedLeads } from '../client/guarded-leads';
import { keysReadinessCheck } from '../activities/keys';

const keyring = Keyring.single(randomBytes(32));

/** A pool whose leadline_key_ids() answers `ids`, counting the calls. */
function poolWith(ids: string[]) {
  const pool = {
    calls: 0,
    query: () => {
      pool.calls++;
      return Promise.resolve({ rows: ids.map((key_id) => ({ key_id })) });
    },
  };
  return pool;
}

describe('/readyz keys check', () => {
  it('fails, naming the key ids, while stored leads or Temporal payloads need a key the keyring lacks', async () => {
    await expect(
      keysReadinessCheck({ pool: poolWith([keyring.currentId]) as never, keyring })(),
    ).resolves.toBeUndefined();
    const missing = keysReadinessCheck({ pool: poolWith([keyring.currentId, 'lost-key']) as never, keyring });
    await expect(missing()).rejects.toThrow(MissingKeyError);
    await expect(missing()).rejects.toThrow('encrypted with key lost-key');
    const fromCodec = keysReadinessCheck({ pool: poolWith([]) as never, keyring, codecMissing: () => ['codec-key'] });
    await expect(fromCodec()).rejects.toThrow('encrypted with key codec-key');
  });

  it('asks PostgreSQL at most once per cache period', async () => {
    const pool = poolWith([]);
    const check = keysReadinessCheck({ pool: pool as never, keyring, cacheMs: 60_000 });
    await check();
    await check();
    expect(pool.calls).toBe(1);
  });

  it('answers 503 naming the keys when the check fails', async () => {
    const ok = () => Promise.resolve();
    const api = await buildApi({
      leads: {} as GuardedLeads,
      authenticate: () => Promise.reject(new Error('no route here needs a caller')),
      checks: { temporal: ok, postgres: ok, keys: () => Promise.reject(new MissingKeyError(['k1'], 'leads')) },
      logger: false,
    });
    const answer = await api.inject({ method: 'GET', url: '/readyz' });
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toMatchObject({
      detail: 'a key the stored leads need is missing from the keyring',
      checks: { keys: 'missing' },
    });
    await api.close();
  });
});
