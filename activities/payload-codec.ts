import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import proto from '@temporalio/proto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Keyring, MissingKeyError } from './keyring';

export { Keyring, MissingKeyError } from './keyring';

const ENCODING = 'binary/encrypted';
const ALGORITHM = 'aes-256-gcm';
const KEY_ID_METADATA = 'encryption-key-id';
const { Payload: PayloadMessage } = proto.temporal.api.common.v1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encrypts every payload Temporal stores (workflow input with the intake, update arguments, results,
 * activity arguments) with AES-256-GCM, so victims' personal data never sits readable in Temporal's
 * history or its UI. Search attributes are not payloads and carry no personal data by design.
 *
 * The keyring's current key encrypts; its id travels in each payload's metadata (as in Temporal's encryption
 * sample), so a payload written under an older key decodes as long as the keyring still holds that key. Payloads
 * written before keyrings (one key, whose id is derived from it) carry the same metadata and decode the same way;
 * payloads written before encryption was turned on still decode.
 */
export class LeadPayloadCodec implements PayloadCodec {
  readonly keyring: Keyring;
  private readonly missing = new Set<string>();

  constructor(keys: Keyring | Uint8Array) {
    this.keyring = keys instanceof Keyring ? keys : Keyring.single(keys);
  }

  /** The id of the key that encrypts. */
  get keyId(): string {
    return this.keyring.currentId;
  }

  /** The key that encrypts (tests hand it on to processes they start as LEADLINE_PAYLOAD_KEY). */
  get key(): Buffer {
    return this.keyring.current.key;
  }

  /** Key ids of payloads this codec was asked to decode and could not: what `/readyz` reports. */
  missingKeyIds(): string[] {
    return [...this.missing];
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keyring.current;
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(12);
        const cipher = createCipheriv(ALGORITHM, key, iv);
        const plain = PayloadMessage.encode(payload).finish();
        const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return {
          metadata: { encoding: encoder.encode(ENCODING), [KEY_ID_METADATA]: encoder.encode(id) },
          data: sealed,
        };
      }),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        const encoding = payload.metadata?.encoding;
        if (encoding === undefined || encoding === null || decoder.decode(encoding) !== ENCODING) return payload;
        const keyIdBytes = payload.metadata?.[KEY_ID_METADATA];
        // Every encrypted payload Leadline ever wrote names its key; one without is read with the current key.
        const keyId = keyIdBytes ? decoder.decode(keyIdBytes) : this.keyring.currentId;
        const key = this.keyring.key(keyId);
        if (key === undefined) {
          this.missing.add(keyId);
          throw new MissingKeyError([keyId], 'a Temporal payload');
        }
        const sealed = Buffer.from(payload.data ?? new Uint8Array());
        const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, 12));
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
        return PayloadMessage.decode(plain);
      }),
    );
  }
}

/** A new random key, base64: what `LEADLINE_PAYLOAD_KEY` holds. */
export function newPayloadKey(): string {
  return randomBytes(32).toString('base64');
}
