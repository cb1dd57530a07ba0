import { describe, expect, it } from 'vitest';
import { commandData, CommandMetadata, type ExternalCommandType } from '../schemas/commands';
import { LeadIntake, QueuedLead } from '../schemas/intake';
import { LeadListFilter } from '../schemas/read-model';
import { isStorableText, storableString, text, UNSTORABLE_TEXT_MESSAGE } from '../schemas/text';
import { sampleIntakeInputs } from './support/lead-fixtures';

const LEAD = '6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01';
const poisons = { NUL: 'Maria\u0000Lopez', 'lone high surrogate': 'Maria\ud800', 'lone low surrogate': '\udc00Maria' };

/** Every string in a value, with its path as zod names it. */
function stringLeaves(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringLeaves(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...path, k]));
  }
  return [];
}

function withValueAt(value: unknown, path: (string | number)[], replacement: string): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = replacement;
  return copy;
}

/** Every string field of `sample`, poisoned in turn, is refused under its own path, and the value is never quoted. */
function expectEveryStringGuarded(
  schema: { safeParse(v: unknown): { success: boolean; error?: unknown } },
  sample: unknown,
) {
  expect(schema.safeParse(sample).success).toBe(true);
  const leaves = stringLeaves(sample);
  expect(leaves.length).toBeGreaterThan(0);
  for (const path of leaves) {
    for (const poison of Object.values(poisons)) {
      const result = schema.safeParse(withValueAt(sample, path, poison));
      expect(result.success, `${path.join('.')} took ${JSON.stringify(poison)}`).toBe(false);
      const issues = (result.error as { issues: { path: PropertyKey[]; message: string }[] }).issues;
      const issue = issues.find((i) => i.path.join('.') === path.join('.'));
      expect(issue, `${path.join('.')} is not named`).toBeDefined();
      // A field with a shape of its own (an enum, an office id, a date, an email) may refuse it by that shape first.
      const freeText = schema.safeParse(withValueAt(sample, path, 'Maria Lopez')).success;
      if (freeText) expect(issue?.message).toBe(UNSTORABLE_TEXT_MESSAGE);
      expect(JSON.stringify(issues)).not.toContain('Maria');
    }
  }
}

describe('storable text', () => {
  it('refuses NUL and lone surrogates and takes everything else, emoji pairs included', () => {
    expect(isStorableText('a\u0000b')).toBe(false);
    expect(isStorableText('\ud800')).toBe(false);
    expect(isStorableText('x\udbff')).toBe(false);
    expect(isStorableText('\udc00x')).toBe(false);
    expect(isStorableText('\ude00\ud83d')).toBe(false);
    expect(isStorableText('Olá — 😀 \u0001 \ud83d\ude00')).toBe(true);
    expect(isStorableText('')).toBe(true);
  });

  it('names the field, says why, and never quotes the value', () => {
    const result = LeadIntake.safeParse({
      ...sampleIntakeInputs()['newark-interview-request'],
      potentialVictims: [{ name: 'Maria\u0000Lopez' }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({ path: ['potentialVictims', 0, 'name'], message: UNSTORABLE_TEXT_MESSAGE }),
    ]);
    expect(JSON.stringify(result.error?.issues)).not.toContain('Maria');
  });

  it('keeps trimming and bounds', () => {
    expect(text(5).parse('  ab  ')).toBe('ab');
    expect(text(5).safeParse('123456').success).toBe(false);
    expect(text(5).safeParse('   ').success).toBe(false);
    expect(storableString().parse('')).toBe('');
  });

  it.each(Object.entries(sampleIntakeInputs()))('guards every string of the intake %s', (_name, intake) => {
    expectEveryStringGuarded(LeadIntake, intake);
  });

  it('guards what the intake queue keeps beside the intake', () => {
    const intake = sampleIntakeInputs()['newark-interview-request'];
    expectEveryStringGuarded(QueuedLead.omit({ intake: true }), {
      leadId: LEAD,
      intakeDigest: 'abc',
      submittedBy: { actor: 'svc:intake', commandId: 'key-1' },
    });
    expect(
      QueuedLead.safeParse({ leadId: LEAD, intakeDigest: 'd', intake, submittedBy: { actor: 'a', commandId: 'c' } })
        .success,
    ).toBe(true);
  });

  const commandSamples: Record<ExternalCommandType, unknown[]> = {
    ValidateLead: [
      { outcome: 'valid', fingerprint: 'f' },
      { outcome: 'invalid', fingerprint: 'f', problems: ['no location'] },
      { outcome: 'duplicate', fingerprint: 'f', duplicateOf: LEAD },
    ],
    AssignLead: [{ office: 'HSI-NEWARK', agent: 'agent:rivera' }],
    ReassignLead: [{ office: 'HSI-NEWARK', agent: 'agent:rivera', reason: 'closer office' }],
    RequestInterview: [
      {
        scheduledFor: '2026-11-03T10:00:00Z',
        place: 'Newark field office',
        interpreterLanguage: 'es',
        victimSpecialist: true,
      },
    ],
    RescheduleInterview: [{ scheduledFor: '2026-11-03T10:00:00Z', place: 'shelter', reason: 'victim asked' }],
    CompleteInterview: [{ outcome: 'victim_identified' }],
    OpenCase: [{ caseNumber: 'HSI-NWK-2026-0001' }],
    CloseLead: [{ reason: 'other', note: 'referred' }],
    PauseSla: [{ justification: 'victim in hospital' }],
    ResumeSla: [],
    AcknowledgeEscalation: [{ note: 'on it' }],
    ChangePriority: [{ priority: 'urgent', reason: 'new information' }],
    AddNote: [{ text: 'called the partner' }],
    RecordSafety: [{ safeToContact: 'no', contactThrough: 'NGO caseworker', preferredLanguage: 'vi' }],
    AcknowledgePartner: [],
    PauseForStabilisation: [
      { category: 'medical', expectedEnd: '2026-11-10T10:00:00Z', justification: 'victim in hospital' },
    ],
  };

  it.each(Object.entries(commandSamples))('guards every string of %s', (type, samples) => {
    for (const sample of samples) expectEveryStringGuarded(commandData[type as ExternalCommandType], sample);
  });

  it('guards the actor and the command id', () => {
    expectEveryStringGuarded(CommandMetadata, { actor: 'agent:rivera', at: '2026-11-03T10:00:00Z', commandId: 'c-1' });
  });

  it('guards the list filter: office and cursor', () => {
    for (const field of ['office', 'cursor']) {
      const result = LeadListFilter.safeParse({ [field]: 'a\u0000b' });
      expect(result.error?.issues).toEqual([
        expect.objectContaining({ path: [field], message: UNSTORABLE_TEXT_MESSAGE }),
      ]);
    }
  });
});
