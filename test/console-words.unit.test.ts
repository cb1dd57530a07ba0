import { describe, expect, it } from 'vitest';
import { describeEvent, duration, ladder, timeLeft } from '../client/console/words';

const at = (iso: string) => Date.parse(iso);

describe("the console's words", () => {
  it('says durations in the two largest units', () => {
    expect(duration(40_000)).toBe('40 s');
    expect(duration(12 * 60_000)).toBe('12 min');
    expect(duration((3 * 60 + 12) * 60_000)).toBe('3 h 12 min');
    expect(duration(3 * 3_600_000)).toBe('3 h');
    expect(duration((2 * 24 + 5) * 3_600_000 + 59 * 60_000)).toBe('2 d 5 h');
    expect(duration(-90 * 60_000)).toBe('1 h 30 min');
  });

  it('counts down to a deadline and past it', () => {
    const now = at('2026-12-01T10:00:00Z');
    expect(timeLeft('2026-12-01T12:05:00Z', now)).toBe('2 h 5 min left');
    expect(timeLeft('2026-12-01T09:20:00Z', now)).toBe('overdue by 40 min');
    expect(timeLeft('2026-12-01T09:20:00Z', now, true)).toBe('clock paused');
    expect(timeLeft(null, now)).toBe('—');
  });

  it('tells the timeline in words, timed from the intake', () => {
    const receivedAt = '2026-12-01T08:00:00Z';
    const office = (id: string) => (id === 'HSI-NEWARK' ? 'HSI Newark' : id);
    const event = (type: string, minutes: number, detail: Record<string, unknown>) => ({
      seq: 2,
      type,
      at: new Date(at(receivedAt) + minutes * 60_000).toISOString(),
      actor: 'system:workflow',
      detail,
    });
    expect(describeEvent(event('LeadValidated', 192, {}), receivedAt, office)).toBe(
      'Validated 3 h 12 min after intake',
    );
    expect(describeEvent(event('LeadEscalated', 3000, { level: 2, stage: 'assignment' }), receivedAt, office)).toBe(
      'Escalated to level 2 2 d 2 h after intake: the Special Agent in Charge notified',
    );
    expect(
      describeEvent(event('LeadAssigned', 5, { office: 'HSI-NEWARK', agent: null, routed: true }), receivedAt, office),
    ).toBe('Routed to HSI Newark 5 min after intake');
    expect(describeEvent(event('LeadClosed', 60, { reason: 'victim_declined' }), receivedAt, office)).toBe(
      'Closed 1 h after intake: the victim declined',
    );
  });

  it('places the rungs of a running clock and holds them while it is paused', () => {
    const now = at('2026-12-01T10:00:00Z');
    const hour = 3_600_000;
    const running = ladder(
      { budgetMs: 4 * hour, usedMs: hour, runningSince: '2026-12-01T09:00:00Z', paused: false },
      now,
    );
    // 2 h used of 4: the warning (3 h) is an hour away, level 3 (8 h) six.
    expect(running.map((r) => [r.rung, r.passed, r.when])).toEqual([
      ['warning', false, '2026-12-01T11:00:00.000Z'],
      ['level1', false, '2026-12-01T12:00:00.000Z'],
      ['level2', false, '2026-12-01T14:00:00.000Z'],
      ['level3', false, '2026-12-01T16:00:00.000Z'],
    ]);
    const paused = ladder({ budgetMs: 4 * hour, usedMs: 5 * hour, runningSince: null, paused: true }, now);
    expect(paused.map((r) => [r.rung, r.passed, r.when])).toEqual([
      ['warning', true, null],
      ['level1', true, null],
      ['level2', false, null],
      ['level3', false, null],
    ]);
  });
});
