import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import proto from '@temporalio/proto';
import type { Payload, PayloadCodec } from '@temporalio/common';

const ENCODING = 'binary/encrypted';
const ALGORITHM = 'aes-256-gcm';
const { Payload: PayloadMessage } = proto.temporal.api.common.v1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encrypts every payload Temporal stores (workflow input with the intake, update arguments, results,
 * activity arguments) with AES-256-GCM, so victims' personal data never sits readable in Temporal's
 * history or its UI. Search attributes are not payloads and carry no personal data by design.
 * Payloads written before encryption was turned on still decode.
 */
export class LeadPayloadCodec implements PayloadCodec {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the payload key must be 32 bytes (base64 of 32 random bytes)');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(12);
        const cipher = createCipheriv(ALGORITHM, this.key, iv);
        const plain = PayloadMessage.encode(payload).finish();
        const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return {
          metadata: { encoding: encoder.encode(ENCODING), 'encryption-key-id': encoder.encode(this.keyId) },
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
        const keyId = payload.metadata?.['encryption-key-id'];
        if (keyId && decoder.decode(keyId) !== this.keyId) {
          throw new Error(`a payload is encrypted with key ${decoder.decode(keyId)}, not the configured ${this.keyId}`);
        }
        const sealed = Buffer.from(payload.data ?? new Uint8Array());
        const decipher = createDecipheriv(ALGORITHM, this.key, sealed.subarray(0, 12));
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
