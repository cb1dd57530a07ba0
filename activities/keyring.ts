import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';

/*
 * The keys that protect victims' data, shared by Temporal's payload codec (activities/payload-codec.ts) and the
 * encryption of PostgreSQL's sensitive fields (activities/field-crypto.ts). Every key has an id; the current key
 * encrypts, every key decrypts, and each ciphertext carries the id of its key, so a rotation never makes older
 * data unreadable as long as its key stays in the keyring.
 */

const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A key id as `npm start` has always derived it from a single payload key (the id older payloads carry). */
export function derivedKeyId(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** The keyring as a file or LEADLINE_KEYRING holds it: key ids to base64 keys, and which one encrypts. */
export const KeyringJson = z
  .object({
    current: z.string().regex(KEY_ID, 'a key id is 1-64 letters, digits, - or _'),
    keys: z.record(
      z.string().regex(KEY_ID, 'a key id is 1-64 letters, digits, - or _'),
      z
        .string()
        .refine(
          (v) => Buffer.from(v, 'base64').length === KEY_BYTES,
          'must be base64 of 32 bytes (openssl rand -base64 32)',
        ),
    ),
    /**
     * The key whose derived subkey makes keyed digests (partner references). Digests are compared with digests made
     * earlier, so this key does not change with a rotation. Unset: the current key.
     */
    digest: z.string().regex(KEY_ID).optional(),
  })
  .refine((ring) => ring.current in ring.keys, {
    message: 'the current key id is not among the keys',
    path: ['current'],
  })
  .refine((ring) => ring.digest === undefined || ring.digest in ring.keys, {
    message: 'the digest key id is not among the keys',
    path: ['digest'],
  });
export type KeyringJson = z.infer<typeof KeyringJson>;

/** Data needs a key the keyring does not hold. The message names the key id only (never the data). */
export class MissingKeyError extends Error {
  override readonly name = 'MissingKeyError';

  constructor(
    readonly keyIds: readonly string[],
    where: string,
  ) {
    super(
      `${where} ${keyIds.length === 1 ? 'is' : 'are'} encrypted with key ${keyIds.join(', ')}, which the keyring does not hold: ` +
        'restore the keyring (or the key) from your backup; see docs/keys.md',
    );
  }
}

export class Keyring {
  private readonly subkeys = new Map<string, Buffer>();

  private constructor(
    readonly currentId: string,
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly digestId: string,
  ) {}

  /** One key, current and used for digests, under the id derived from it (LEADLINE_PAYLOAD_KEY, `payload.key`). */
  static single(key: Uint8Array): Keyring {
    const buffer = checkedKey(key);
    const id = derivedKeyId(buffer);
    return new Keyring(id, new Map([[id, buffer]]), id);
  }

  /** A keyring from its JSON form; `where` names the source in the error (a file, a variable), never a key. */
  static fromJson(value: unknown, where: string): Keyring {
    const parsed = KeyringJson.safeParse(value);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(keyring)'}: ${i.message}`).join('\n');
      throw new Error(`the keyring in ${where} is not valid:\n${problems}`);
    }
    const ring = parsed.data;
    const keys = new Map(Object.entries(ring.keys).map(([id, key]) => [id, Buffer.from(key, 'base64')]));
    return new Keyring(ring.current, keys, ring.digest ?? ring.current);
  }

  /** The key that encrypts. */
  get current(): { id: string; key: Buffer } {
    return { id: this.currentId, key: this.keys.get(this.currentId) as Buffer };
  }

  key(id: string): Buffer | undefined {
    return this.keys.get(id);
  }

  has(id: string): boolean {
    return this.keys.has(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  /** This keyring with one more key that only decrypts (it keeps its current key); the same ring if it has the id. */
  withOlderKey(key: Uint8Array): Keyring {
    const id = derivedKeyId(key);
    if (this.keys.has(id)) return this;
    return new Keyring(this.currentId, new Map([...this.keys, [id, checkedKey(key)]]), this.digestId);
  }

  /** This keyring with a new random key as the current one; every older key stays, to decrypt. */
  rotated(): Keyring {
    const key = randomBytes(KEY_BYTES);
    const id = derivedKeyId(key);
    return new Keyring(id, new Map([...this.keys, [id, key]]), this.digestId);
  }

  toJson(): KeyringJson {
    return {
      current: this.currentId,
      keys: Object.fromEntries([...this.keys].map(([id, key]) => [id, key.toString('base64')])),
      digest: this.digestId,
    };
  }

  /**
   * A subkey of key `id` for one purpose (HKDF-SHA256), so the key that seals Temporal's payloads never directly
   * seals a PostgreSQL field or keys a digest. Undefined when the keyring lacks `id`.
   */
  subkey(id: string, purpose: 'at-rest' | 'digest'): Buffer | undefined {
    const cacheKey = `${purpose}:${id}`;
    const cached = this.subkeys.get(cacheKey);
    if (cached !== undefined) return cached;
    const key = this.keys.get(id);
    if (key === undefined) return undefined;
    const derived = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `leadline ${purpose} v1`, KEY_BYTES));
    this.subkeys.set(cacheKey, derived);
    return derived;
  }

  /**
   * A keyed digest (HMAC-SHA256, 128 bits, hex) of a value that must be recognisable but not readable, such as a
   * partner's reference. Stable across rotations: it is keyed by the digest key, which a rotation keeps.
   */
  digest(value: string): string {
    const key = this.subkey(this.digestId, 'digest') as Buffer;
    return createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 32);
  }
}

function checkedKey(key: Uint8Array): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('a key must be 32 bytes (base64 of 32 random bytes)');
  return Buffer.from(key);
}
