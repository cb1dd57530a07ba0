import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { derivedKeyId, Keyring, MissingKeyError } from '../activities/keyring';
import { LeadPayloadCodec } from '../activities/payload-codec';
import { loadKeyring, rotateKeyring } from '../activities/keys';

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/payloads/single-key-codec.json', import.meta.url), 'utf8'),
) as { key: string; payload: { metadata: Record<string, string>; data: string } };

const fromBase64 = (value: string) => new Uint8Array(Buffer.from(value, 'base64'));
const value = { intake: { summary: 'a victim named Marker Person' } };

async function roundTrip(writer: LeadPayloadCodec, reader: LeadPayloadCodec): Promise<unknown> {
  const [sealed] = await writer.encode([defaultPayloadConverter.toPayload(value)]);
  const [opened] = await reader.decode([sealed as Payload]);
  return defaultPayloadConverter.fromPayload(opened as Payload);
}

describe('keyring', () => {
  it('encrypts with the current key and decrypts with any key it holds', () => {
    const first = Keyring.single(randomBytes(32));
    const second = first.rotated();
    expect(second.currentId).not.toBe(first.currentId);
    expect(second.ids()).toEqual([first.currentId, second.currentId]);
    expect(second.key(first.currentId)).toEqual(first.current.key);
    // The digest key stays: digests made before a rotation still match those made after.
    expect(second.digest('ngo:REF-1')).toBe(first.digest('ngo:REF-1'));
    expect(second.digest('ngo:REF-1')).not.toBe(second.digest('ngo:REF-2'));
    expect(second.digest('ngo:REF-1')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('reads its JSON form and refuses a malformed one without quoting a key', () => {
    const ring = Keyring.single(randomBytes(32)).rotated();
    const again = Keyring.fromJson(JSON.parse(JSON.stringify(ring.toJson())), 'test');
    expect(again.currentId).toBe(ring.currentId);
    expect(again.ids()).toEqual(ring.ids());
    const secret = randomBytes(16).toString('base64');
    const refusal = (() => {
      try {
        Keyring.fromJson({ current: 'k1', keys: { k1: secret } }, 'the test keyring');
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(refusal).toContain('keys.k1: must be base64 of 32 bytes');
    expect(refusal).not.toContain(secret);
    expect(() => Keyring.fromJson({ current: 'k2', keys: { k1: randomBytes(32).toString('base64') } }, 't')).toThrow(
      'the current key id is not among the keys',
    );
  });
});

describe('payload codec', () => {
  it('decodes a payload written by the single-key codec (before keyrings), under the id derived from its key', async () => {
    const key = Buffer.from(fixture.key, 'base64');
    const old: Payload = {
      metadata: Object.fromEntries(Object.entries(fixture.payload.metadata).map(([k, v]) => [k, fromBase64(v)])),
      data: fromBase64(fixture.payload.data),
    };
    expect(Buffer.from(old.metadata?.['encryption-key-id'] as Uint8Array).toString()).toBe(derivedKeyId(key));
    // As LEADLINE_PAYLOAD_KEY, and as an older key of a rotated keyring.
    for (const codec of [new LeadPayloadCodec(key), new LeadPayloadCodec(Keyring.single(key).rotated())]) {
      const [opened] = await codec.decode([old]);
      expect(defaultPayloadConverter.fromPayload(opened as Payload)).toEqual({
        intake: { summary: 'fixture: a payload sealed by the single-key codec' },
      });
    }
  });

  it('after a rotation encrypts under the new key id and still decodes what the old key wrote', async () => {
    const before = new LeadPayloadCodec(Keyring.single(randomBytes(32)));
    const after = new LeadPayloadCodec(before.keyring.rotated());
    const [sealed] = await after.encode([defaultPayloadConverter.toPayload(value)]);
    expect(Buffer.from(sealed?.metadata?.['encryption-key-id'] as Uint8Array).toString()).toBe(after.keyId);
    expect(Buffer.from(sealed?.data as Uint8Array).toString('latin1')).not.toContain('Marker Person');
    expect(await roundTrip(before, after)).toEqual(value);
    expect(await roundTrip(after, after)).toEqual(value);
  });

  it('refuses a payload whose key it lacks, naming the key id, and remembers it for /readyz', async () => {
    const writer = new LeadPayloadCodec(randomBytes(32));
    const reader = new LeadPayloadCodec(randomBytes(32));
    const error = await roundTrip(writer, reader).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingKeyError);
    expect((error as Error).message).toContain(`encrypted with key ${writer.keyId}`);
    expect(reader.missingKeyIds()).toEqual([writer.keyId]);
  });
});

describe('keyring configuration', () => {
  const cfg = (dataDir: string, extra: Record<string, string> = {}) => ({ LEADLINE_DATA_DIR: dataDir, ...extra });

  it('makes a keyring only on a first start with an empty data directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leadline-keys-'));
    const made = loadKeyring(cfg(dir), { create: true });
    expect(made.created).toBe(true);
    expect(statSync(join(dir, 'keyring.json')).mode & 0o777).toBe(0o600);
    expect(loadKeyring(cfg(dir), { create: true }).keyring.currentId).toBe(made.keyring.currentId);

    const withData = mkdtempSync(join(tmpdir(), 'leadline-keys-'));
    mkdirSync(join(withData, 'postgres'));
    expect(() => loadKeyring(cfg(withData), { create: true })).toThrow(
      /holds data \(postgres\) encrypted under one\. Leadline makes a key only on a first start/,
    );
    expect(existsSync(join(withData, 'keyring.json'))).toBe(false);
  });

  it('reads the payload.key of a data directory made before keyrings, and a rotation keeps that key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leadline-keys-'));
    const old = randomBytes(32);
    writeFileSync(join(dir, 'payload.key'), `${old.toString('base64')}\n`, { mode: 0o600 });
    mkdirSync(join(dir, 'postgres'));
    expect(loadKeyring(cfg(dir)).keyring.currentId).toBe(derivedKeyId(old));

    const rotated = rotateKeyring(cfg(dir));
    expect(rotated.previous).toBe(derivedKeyId(old));
    const after = loadKeyring(cfg(dir)).keyring;
    expect(after.currentId).toBe(rotated.current);
    expect(after.key(derivedKeyId(old))).toEqual(old);
    expect(after.digestId).toBe(derivedKeyId(old));
  });

  it('takes LEADLINE_KEYRING as JSON or a file, with LEADLINE_PAYLOAD_KEY as an older key', () => {
    const ring = Keyring.single(randomBytes(32)).rotated();
    const legacy = randomBytes(32);
    const inline = loadKeyring(
      cfg('/nonexistent', {
        LEADLINE_KEYRING: JSON.stringify(ring.toJson()),
        LEADLINE_PAYLOAD_KEY: legacy.toString('base64'),
      }),
    );
    expect(inline.keyring.currentId).toBe(ring.currentId);
    expect(inline.keyring.has(derivedKeyId(legacy))).toBe(true);
    expect(() => rotateKeyring(cfg('/nonexistent', { LEADLINE_KEYRING: JSON.stringify(ring.toJson()) }))).toThrow(
      'not from a file this command can write',
    );

    const file = join(mkdtempSync(join(tmpdir(), 'leadline-keys-')), 'ring.json');
    writeFileSync(file, JSON.stringify(ring.toJson()), { mode: 0o600 });
    const rotated = rotateKeyring(cfg('/nonexistent', { LEADLINE_KEYRING: file }));
    expect(loadKeyring(cfg('/nonexistent', { LEADLINE_KEYRING: file })).keyring.ids()).toEqual([
      ...ring.ids(),
      rotated.current,
    ]);
  });
});
