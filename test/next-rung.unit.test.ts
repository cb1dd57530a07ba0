import { describe, expect, it } from 'vitest';
import { currentStageBudgetMs, nextRung, stageBudgetMs, stageDeadline } from '../domain';
import { idleClock, startStage } from '../domain/sla';
import type { SlaClock } from '../schemas/lead';
import { defaultSlaPolicy, SlaPolicy, defaultSlaPolicyInput } from '../schemas/sla-policy';

const policy = defaultSlaPolicy();
const T0 = Date.parse('2026-11-02T09:00:00.000Z');
const H = 3_600_000;
const at = (hours: number) => new Date(T0 + hours * H).toISOString();

/** The assignment stage of a standard lead (24 h), entered at T0. */
const assignment = (changes: Partial<SlaClock> = {}): SlaClock => ({
  ...startStage(idleClock, 'assignment', stageBudgetMs(policy, 'assignment', 'standard'), at(0)),
  ...changes,
});

describe('the next rung of the SLA ladder', () => {
  it('climbs warning (75 %), level 1 (100 %), level 2 (150 %), level 3 (200 %), then nothing', () => {
    expect(nextRung(assignment(), policy)).toEqual({ rung: 'warning', at: at(18) });
    expect(nextRung(assignment({ warned: true }), policy)).toEqual({ rung: 'level1', at: at(24) });
    expect(nextRung(assignment({ warned: true, level: 1 }), policy)).toEqual({ rung: 'level2', at: at(36) });
    expect(nextRung(assignment({ warned: true, level: 2 }), policy)).toEqual({ rung: 'level3', at: at(48) });
    expect(nextRung(assignment({ warned: true, level: 3 }), policy)).toBeNull();
  });

  it('uses the budget for the lead’s priority', () => {
    const urgent = startStage(idleClock, 'assignment', stageBudgetMs(policy, 'assignment', 'urgent'), at(0));
    expect(currentStageBudgetMs(urgent)).toBe(2 * H);
    expect(nextRung(urgent, policy)).toEqual({ rung: 'warning', at: at(1.5) });
  });

  it('is null while paused and once the lead is finished', () => {
    expect(nextRung(assignment({ runningSince: null, paused: true, pausedAt: at(3), usedMs: 3 * H }), policy)).toBe(
      null,
    );
    const finished = startStage(assignment(), null, 0, at(5));
    expect(nextRung(finished, policy)).toBeNull();
    expect(currentStageBudgetMs(finished)).toBeNull();
    expect(currentStageBudgetMs(assignment({ runningSince: null, paused: true }))).toBe(24 * H);
  });

  it('is shifted by a pause: the time used before it counts, the pause does not', () => {
    // Ran 2 h, paused, resumed at T0 + 10 h: 16 h are left to the warning.
    const resumed = assignment({ usedMs: 2 * H, runningSince: at(10) });
    expect(nextRung(resumed, policy)).toEqual({ rung: 'warning', at: at(26) });
    // The same instant as the row's stage deadline less a quarter of the budget.
    expect(Date.parse(nextRung(resumed, policy)!.at)).toBe(Date.parse(stageDeadline(resumed)!) - 6 * H);
  });

  it('waits for an acknowledgement’s hold when the hold outlasts the rung', () => {
    const held = assignment({ warned: true, level: 1, holdUntil: at(40) });
    expect(nextRung(held, policy)).toEqual({ rung: 'level2', at: at(40) });
    const shortHold = assignment({ warned: true, level: 1, holdUntil: at(30) });
    expect(nextRung(shortHold, policy)).toEqual({ rung: 'level2', at: at(36) });
  });

  it('follows the policy’s fractions and time scale', () => {
    const scaled = defaultSlaPolicy({ timeScale: 3600 });
    const clock = startStage(idleClock, 'assignment', stageBudgetMs(scaled, 'assignment', 'standard'), at(0));
    expect(currentStageBudgetMs(clock)).toBe(24_000);
    expect(nextRung(clock, scaled)).toEqual({ rung: 'warning', at: new Date(T0 + 18_000).toISOString() });
    const early = SlaPolicy.parse({ ...defaultSlaPolicyInput, ladder: { warningAt: 0.5, levels: [1, 2, 3] } });
    expect(nextRung(assignment(), early)).toEqual({ rung: 'warning', at: at(12) });
    expect(nextRung(assignment({ warned: true, level: 2 }), early)).toEqual({ rung: 'level3', at: at(72) });
  });

  it('goes to level 1 when the warning was skipped (a lead escalated straight past it)', () => {
    expect(nextRung(assignment({ warned: false, level: 1 }), policy)).toEqual({ rung: 'level2', at: at(36) });
  });
});
