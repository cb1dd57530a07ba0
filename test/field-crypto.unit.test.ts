import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  FieldCrypto,
  isSealed,
  NoKeyringError,
  openEvent,
  openState,
  PLAIN_EVENT_FIELDS,
  SEALED_EVENT_FIELDS,
  SealBrokenError,
  sealEvent,
  sealState,
  type Sealed,
} from '../activities/field-crypto';
import { Keyring, MissingKeyError } from '../activities/keyring';
import { eventData } from '../schemas/events';

const crypto = new FieldCrypto(Keyring.single(randomBytes(32)));
const leadId = randomUUID();
const MARKER = 'Marker Victimname 0042';

describe('field encryption', () => {
  it('seals a value so that neither it nor its length in characters shows, and opens it under the same lead', () => {
    const sealed = crypto.seal(leadId, 'text', MARKER);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed.kid).toBe(crypto.currentKeyId);
    expect(JSON.stringify(sealed)).not.toContain('Marker');
    expect(Buffer.from(sealed.iv, 'base64')).toHaveLength(12);
    // A random IV each time: equal notes do not look equal at rest.
    expect(crypto.seal(leadId, 'text', MARKER).ct).not.toBe(sealed.ct);
    expect(crypto.open(leadId, 'text', sealed)).toBe(MARKER);
    expect(crypto.open(leadId, 'intake', crypto.seal(leadId, 'intake', { a: [1, 'b'] }))).toEqual({ a: [1, 'b'] });
  });

  it('refuses a tampered value, naming the field and not the value', () => {
    const sealed = crypto.seal(leadId, 'text', MARKER);
    const ct = Buffer.from(sealed.ct, 'base64');
    ct[0] = (ct[0] ?? 0) ^ 1;
    const tampered: Sealed = { ...sealed, ct: ct.toString('base64') };
    expect(() => crypto.open(leadId, 'text', tampered)).toThrow(SealBrokenError);
    const tag = Buffer.from(sealed.ct, 'base64');
    tag[tag.length - 1] = (tag[tag.length - 1] ?? 0) ^ 1;
    expect(() => crypto.open(leadId, 'text', { ...sealed, ct: tag.toString('base64') })).toThrow(SealBrokenError);
    expect(() => crypto.open(leadId, 'text', { ...sealed, iv: randomBytes(12).toString('base64') })).toThrow(
      'an encrypted text does not open',
    );
  });

  it('refuses a value moved to another lead (the lead id is authenticated data) or another field', () => {
    const sealed = crypto.seal(leadId, 'text', MARKER);
    expect(() => crypto.open(randomUUID(), 'text', sealed)).toThrow(SealBrokenError);
    expect(() => crypto.open(leadId, 'reason', sealed)).toThrow(SealBrokenError);
    // Case does not make another lead: ids are compared as UUIDs.
    expect(crypto.open(leadId.toUpperCase(), 'text', sealed)).toBe(MARKER);
  });

  it('names the key id a value needs when the keyring lacks it, and opens it after a rotation', () => {
    const sealed = crypto.seal(leadId, 'text', MARKER);
    const other = new FieldCrypto(Keyring.single(randomBytes(32)));
    expect(() => other.open(leadId, 'text', sealed)).toThrow(MissingKeyError);
    expect(() => other.open(leadId, 'text', sealed)).toThrow(`encrypted with key ${sealed.kid}`);
    const rotated = new FieldCrypto((crypto.keyring as Keyring).rotated());
    expect(rotated.open(leadId, 'text', sealed)).toBe(MARKER);
    expect(rotated.seal(leadId, 'text', MARKER).kid).toBe(rotated.currentKeyId);
  });

  it('refuses to seal or open without a keyring rather than write plain text', () => {
    const none = new FieldCrypto(undefined);
    expect(() => none.seal(leadId, 'text', MARKER)).toThrow(NoKeyringError);
    expect(() => none.open(leadId, 'text', crypto.seal(leadId, 'text', MARKER))).toThrow(NoKeyringError);
    // Values written before encryption pass through.
    expect(none.openIfSealed(leadId, 'text', 'plain')).toBe('plain');
  });
});

describe('sealed events and states', () => {
  const metadata = { actor: 'agent:a', at: '2026-01-01T00:00:00.000Z', commandId: 'ngo:PARTNER-REF-77' };

  it('seals every free-text field and the command id, and opens them back to the same event', () => {
    const events = [
      { type: 'NoteAdded', data: { text: MARKER } },
      { type: 'LeadClosed', data: { reason: 'other', note: null } },
      { type: 'InterviewRequested', data: { scheduledFor: metadata.at, place: MARKER, interpreterLanguage: 'ti' } },
      { type: 'LeadReceived', data: { leadId, source: 'ngo', intake: { summary: MARKER } } },
      {
        type: 'SafetyRecorded',
        data: {
          safety: { safeToContact: 'no', contactThrough: MARKER, preferredLanguage: 'Marker-Mam' },
          priority: null,
        },
      },
      {
        type: 'StabilisationPaused',
        data: {
          category: 'medical',
          expectedEnd: metadata.at,
          maximumEnd: metadata.at,
          justification: MARKER,
          usedMs: 0,
        },
      },
    ];
    for (const event of events) {
      const stored = sealEvent(crypto, leadId, { ...event, metadata });
      expect(JSON.stringify(stored)).not.toContain('Marker');
      expect(JSON.stringify(stored)).not.toContain('PARTNER-REF');
      expect(isSealed(stored.metadata.commandId)).toBe(true);
      expect(openEvent(crypto, leadId, event.type, stored.data, stored.metadata)).toEqual({
        data: event.data,
        metadata,
      });
    }
    // Absence stays visible, as the timeline shows it.
    expect((sealEvent(crypto, leadId, { ...events[1]!, metadata }).data as { note: unknown }).note).toBeNull();
  });

  it('places every text field of every event on purpose: sealed, or plain because it holds no personal data', () => {
    const unplaced: string[] = [];
    for (const [type, schema] of Object.entries(eventData)) {
      for (const [field, fieldSchema] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        if (!holdsText(fieldSchema)) continue;
        const placed = [...(SEALED_EVENT_FIELDS[type] ?? []), ...(PLAIN_EVENT_FIELDS[type] ?? [])].includes(field);
        if (!placed) unplaced.push(`${type}.${field}`);
      }
    }
    expect(unplaced).toEqual([]);
  });

  it('keeps what the contact-safety rules know sealed in a stored state, and opens it back', () => {
    const safety = {
      safeToContact: 'no',
      consentToContact: 'unknown',
      minor: true,
      needsInterpreter: true,
      immediateDanger: false,
    };
    const state = { leadId, recentCommandIds: [], safety };
    const { state: stored, sealed } = sealState(crypto, leadId, state, 'all');
    expect(sealed).toBe(true);
    expect(isSealed((stored as { safety: unknown }).safety)).toBe(true);
    expect(JSON.stringify(stored)).not.toMatch(/minor|needsInterpreter|safeToContact/);
    expect(openState(crypto, leadId, stored)).toEqual({ ...state, recentCommandDigests: undefined });
  });

  it('keeps a state with command ids as keyed digests, no request digests, and the interpreter language sealed', () => {
    const state = {
      leadId,
      recentCommandIds: ['ngo:PARTNER-REF-77', 'c2'],
      recentCommandDigests: ['0badc0de', '12345678'],
      interview: { scheduledFor: metadata.at, interpreterLanguage: 'Tigrinya', victimSpecialist: true, outcome: null },
    };
    const { state: stored, sealed } = sealState(crypto, leadId, state, 'all');
    expect(sealed).toBe(true);
    const text = JSON.stringify(stored);
    expect(text).not.toContain('PARTNER-REF');
    expect(text).not.toContain('Tigrinya');
    expect(text).not.toContain('recentCommandDigests');
    expect((stored as typeof state).recentCommandIds).toEqual([
      crypto.digest('ngo:PARTNER-REF-77'),
      crypto.digest('c2'),
    ]);
    expect(openState(crypto, leadId, stored)).toEqual({
      ...state,
      recentCommandDigests: undefined,
      recentCommandIds: (stored as typeof state).recentCommandIds,
    });
    // Folded onto a stored row, only the new events' ids are still plain.
    const next = { ...state, recentCommandIds: [...(stored as typeof state).recentCommandIds, 'c3'] };
    expect((sealState(crypto, leadId, next, new Set(['c3'])).state as typeof state).recentCommandIds).toEqual(
      (
        sealState(crypto, leadId, { ...state, recentCommandIds: ['ngo:PARTNER-REF-77', 'c2', 'c3'] }, 'all')
          .state as typeof state
      ).recentCommandIds,
    );
  });
});

/** Whether a schema is a string, or holds one (array, nullable, optional, object). */
function holdsText(schema: z.ZodType): boolean {
  if (schema instanceof z.ZodString || schema instanceof z.ZodEnum) return true;
  if (schema instanceof z.ZodNullable || schema instanceof z.ZodOptional)
    return holdsText(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodArray) return holdsText(schema.element as z.ZodType);
  if (schema instanceof z.ZodObject) return true;
  return false;
}
