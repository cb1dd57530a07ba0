import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { type Keyring, MissingKeyError } from './keyring';

/*
 * Field encryption for what PostgreSQL keeps of a victim: the intake, the free text agents write (notes, reasons,
 * places, justifications), and the partner's reference that names a submission. Each value is sealed on its own with
 * AES-256-GCM under the keyring's current key (a subkey of it: see Keyring.subkey), a random 96-bit IV, and the lead
 * id and the field's name as additional authenticated data, so a sealed value copied to another lead or another field
 * does not open. The sealed value names its key, so older values open after a rotation.
 *
 * The event store seals on its write path and opens on its read paths (activities/event-store.ts): the domain, the
 * workflow, the rebuild and the verify see plain values, and nothing readable reaches PostgreSQL's files or its WAL.
 */

/** A sealed value as jsonb holds it. An object, so no caller's string can be mistaken for one. */
export interface Sealed {
  $sealed: 'A256GCM';
  /** The key id. */
  kid: string;
  /** base64 of the 12-byte IV. */
  iv: string;
  /** base64 of ciphertext and 16-byte tag. */
  ct: string;
}

export function isSealed(value: unknown): value is Sealed {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $sealed?: unknown }).$sealed === 'A256GCM' &&
    typeof (value as { kid?: unknown }).kid === 'string' &&
    typeof (value as { iv?: unknown }).iv === 'string' &&
    typeof (value as { ct?: unknown }).ct === 'string'
  );
}

/** A sealed value did not open: altered, or moved from another lead or field. Names neither the value nor the key. */
export class SealBrokenError extends Error {
  override readonly name = 'SealBrokenError';

  constructor(readonly field: string) {
    super(`an encrypted ${field} does not open under its lead and key: it was altered or moved from another lead`);
  }
}

/** This process was given no keyring for PostgreSQL's encrypted fields, so it may neither write nor read them. */
export class NoKeyringError extends Error {
  override readonly name = 'NoKeyringError';

  constructor() {
    super(
      'no keyring is bound to this PostgreSQL pool: encrypted fields can be neither written nor read (bindKeyring)',
    );
  }
}

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class FieldCrypto {
  constructor(readonly keyring: Keyring | undefined) {}

  /** The id of the key new values are sealed with. */
  get currentKeyId(): string {
    return this.ring().currentId;
  }

  /** `value` (any JSON) sealed for `field` of lead `leadId`. */
  seal(leadId: string, field: string, value: unknown): Sealed {
    const ring = this.ring();
    const id = ring.currentId;
    const key = ring.subkey(id, 'at-rest') as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, iv);
    cipher.setAAD(aad(leadId, field));
    const ct = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { $sealed: 'A256GCM', kid: id, iv: iv.toString('base64'), ct: ct.toString('base64') };
  }

  /** The value `seal` sealed. MissingKeyError without its key; SealBrokenError when altered or moved. */
  open(leadId: string, field: string, sealed: Sealed): unknown {
    const ring = this.ring();
    const key = ring.subkey(sealed.kid, 'at-rest');
    if (key === undefined) throw new MissingKeyError([sealed.kid], `a lead's ${field}`);
    const iv = Buffer.from(sealed.iv, 'base64');
    const ct = Buffer.from(sealed.ct, 'base64');
    if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) throw new SealBrokenError(field);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, iv);
      decipher.setAAD(aad(leadId, field));
      decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as unknown;
    } catch {
      throw new SealBrokenError(field);
    }
  }

  /** Opens a sealed value; anything else (a row written before encryption, a null) is returned as it is. */
  openIfSealed(leadId: string, field: string, value: unknown): unknown {
    return isSealed(value) ? this.open(leadId, field, value) : value;
  }

  /** A keyed digest: recognisable (the same value gives the same digest), not readable, stable across rotations. */
  digest(value: string): string {
    return this.ring().digest(value);
  }

  private ring(): Keyring {
    if (this.keyring === undefined) throw new NoKeyringError();
    return this.keyring;
  }
}

function aad(leadId: string, field: string): Buffer {
  return Buffer.from(`leadline/v1/${leadId.toLowerCase()}/${field}`, 'utf8');
}

// The keyring of a database's pool ------------------------------------------------------------------------------

const bound = new WeakMap<pg.Pool, FieldCrypto>();
const unkeyed = new FieldCrypto(undefined);

/**
 * Gives `pool` the keyring its encrypted fields are written and read with. Every process that opens Leadline's
 * database binds its pool once at start (worker/leadline.ts, the admin tools), so the event store, the intake queue
 * and the read model, however many are made from the pool, all seal and open with the same keys.
 */
export function bindKeyring(pool: pg.Pool, keyring: Keyring): FieldCrypto {
  const crypto = new FieldCrypto(keyring);
  bound.set(pool, crypto);
  return crypto;
}

/** The field encryption of `pool`'s database; one that refuses to seal or open when no keyring was bound. */
export function fieldCryptoFor(pool: pg.Pool): FieldCrypto {
  return bound.get(pool) ?? unkeyed;
}

// Which fields are sealed --------------------------------------------------------------------------------------

/**
 * The fields of each event's data that can name or locate a victim, a witness or a partner: the intake, and every
 * free text an agent writes. `test/field-crypto.unit.test.ts` checks that every text field of every event is either
 * here or in `PLAIN_EVENT_FIELDS`, so a new field must be placed on purpose.
 */
export const SEALED_EVENT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  LeadReceived: ['intake'],
  LeadReassigned: ['reason'],
  InterviewRequested: ['place', 'interpreterLanguage'],
  InterviewRescheduled: ['place', 'reason'],
  LeadClosed: ['note'],
  SlaPaused: ['justification'],
  EscalationAcknowledged: ['note'],
  PriorityChanged: ['reason'],
  NoteAdded: ['text'],
  // What an agent learned of a victim's safety and consent: personal data, like the intake it adds to.
  SafetyRecorded: ['safety'],
  StabilisationPaused: ['justification'],
};

/**
 * Text fields that stay readable because they hold no personal data: ids, vocabulary, offices, times, keyed hashes,
 * the validation's own fixed phrases, and case numbers (a format the schema enforces).
 */
export const PLAIN_EVENT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  // `partner` is the partner directory's id of the referring organisation (config/partners.json) and a budget.
  LeadReceived: ['leadId', 'source', 'kind', 'jurisdiction', 'priority', 'partner'],
  LeadValidated: ['fingerprint'],
  LeadRejected: ['reason', 'fingerprint', 'problems', 'duplicateOf'],
  LeadAssigned: ['office', 'agent'],
  LeadReassigned: ['fromOffice', 'office', 'agent'],
  InterviewRequested: ['scheduledFor'],
  InterviewRescheduled: ['scheduledFor'],
  InterviewCompleted: ['outcome'],
  CaseOpened: ['caseNumber'],
  LeadClosed: ['reason'],
  SlaResumed: ['pausedSince'],
  EscalationAcknowledged: ['holdUntil'],
  PriorityChanged: ['from', 'to'],
  SlaWarning: ['stage', 'deadline'],
  LeadEscalated: ['stage', 'deadline'],
  SafetyRecorded: ['priority'],
  // The category of care is vocabulary, like a close reason: it shows in the timeline and the reports.
  StabilisationPaused: ['category', 'expectedEnd', 'maximumEnd'],
  StabilisationReminded: ['reminder', 'due', 'pausedAt'],
  PartnerAcknowledged: ['dueAt'],
  PartnerAcknowledgementOverdue: ['dueAt'],
};

/** An event as the log keeps it: `data` and `metadata` as they go into jsonb. */
export interface StoredEventParts {
  data: unknown;
  metadata: { actor: string; at: string; commandId: unknown; commandDigest?: string };
}

/**
 * The data and metadata of an event as they are stored: its sensitive fields sealed, and its command id too (a
 * submission's command id is the partner's Idempotency-Key or `source:externalReference`). A null stays null (a note
 * left out), so absence stays visible, as it is in the timeline.
 */
export function sealEvent(
  crypto: FieldCrypto,
  leadId: string,
  event: { type: string; data: unknown; metadata: { actor: string; at: string; commandId: string } },
): StoredEventParts {
  const fields = SEALED_EVENT_FIELDS[event.type] ?? [];
  let data = event.data;
  if (fields.length > 0 && isRecord(data)) {
    const copy: Record<string, unknown> = { ...data };
    for (const field of fields) {
      if (copy[field] !== undefined && copy[field] !== null) copy[field] = crypto.seal(leadId, field, copy[field]);
    }
    data = copy;
  }
  const { actor, at, commandId } = event.metadata;
  // The digest beside the sealed id lets a tool find a command by its id (a partner's reference) without opening rows.
  const sealedId = crypto.seal(leadId, 'commandId', commandId);
  return { data, metadata: { actor, at, commandId: sealedId, commandDigest: crypto.digest(commandId) } };
}

/** The event `sealEvent` stored, every sealed field open again. Rows written before encryption pass through. */
export function openEvent(
  crypto: FieldCrypto,
  leadId: string,
  type: string,
  data: unknown,
  metadata: { actor: unknown; at: unknown; commandId: unknown },
): { data: unknown; metadata: { actor: unknown; at: unknown; commandId: unknown } } {
  const fields = SEALED_EVENT_FIELDS[type] ?? [];
  let opened = data;
  if (fields.length > 0 && isRecord(data)) {
    const copy: Record<string, unknown> = { ...data };
    for (const field of fields) copy[field] = crypto.openIfSealed(leadId, field, copy[field]);
    opened = copy;
  }
  return {
    data: opened,
    metadata: {
      actor: metadata.actor,
      at: metadata.at,
      commandId: crypto.openIfSealed(leadId, 'commandId', metadata.commandId),
    },
  };
}

/**
 * A lead's folded state as the `leads` row keeps it. The state carries no intake, but three things in it still point at
 * people: the interview's interpreter language and what the contact-safety rules know (both sealed) and the recent
 * command ids, the first of which is the
 * partner's reference (kept as keyed digests, enough to tell them apart). The request digests beside them are left out:
 * an unkeyed 32-bit hash of a note is no business of the read model.
 *
 * `fresh` names the command ids still plain: all of them for a state folded from the log, only the new events' ids for
 * a state folded onto a stored row (whose ids are digests already).
 */
export function sealState(
  crypto: FieldCrypto,
  leadId: string,
  state: unknown,
  fresh: ReadonlySet<string> | 'all',
): { state: unknown; sealed: boolean } {
  if (!isRecord(state)) return { state, sealed: false };
  const { recentCommandDigests: _dropped, ...rest } = state;
  const stored: Record<string, unknown> = { ...rest };
  if (Array.isArray(state.recentCommandIds)) {
    stored.recentCommandIds = state.recentCommandIds.map((id: unknown) =>
      typeof id === 'string' && (fresh === 'all' || fresh.has(id)) ? crypto.digest(id) : id,
    );
  }
  let sealed = false;
  if (isRecord(state.interview) && typeof state.interview.interpreterLanguage === 'string') {
    stored.interview = {
      ...state.interview,
      interpreterLanguage: crypto.seal(leadId, 'interpreterLanguage', state.interview.interpreterLanguage),
    };
    sealed = true;
  }
  // What the contact-safety rules know (a minor, unsafe contact, an interpreter): sealed as one value.
  if (isRecord(state.safety)) {
    stored.safety = crypto.seal(leadId, 'safety', state.safety);
    sealed = true;
  }
  return { state: stored, sealed };
}

/** A stored state with its sealed fields open (the command ids stay digests: they are only ever compared). */
export function openState(crypto: FieldCrypto, leadId: string, stored: unknown): unknown {
  if (!isRecord(stored)) return stored;
  let opened = stored;
  if (isRecord(stored.interview) && isSealed(stored.interview.interpreterLanguage)) {
    opened = {
      ...opened,
      interview: {
        ...stored.interview,
        interpreterLanguage: crypto.open(leadId, 'interpreterLanguage', stored.interview.interpreterLanguage),
      },
    };
  }
  if (isSealed(stored.safety)) opened = { ...opened, safety: crypto.open(leadId, 'safety', stored.safety) };
  return opened;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
