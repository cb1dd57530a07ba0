import type { LeadState, Priority, SlaClock, SlaStage, LeadStatus } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';
import { DEFAULT_MAXIMUM_PAUSE_MS, type StabilisationReminderKind } from '../schemas/vocabulary';
import { nextPartnerRung } from './partner';

/** The stage whose clock runs while a lead sits in a status; none once it is terminal. */
export function stageForStatus(status: LeadStatus): SlaStage | null {
  switch (status) {
    case 'received':
      return 'validation';
    case 'validated':
      return 'assignment';
    case 'assigned':
      return 'interview_request';
    case 'interview_requested':
      return 'interview';
    case 'interview_completed':
      return 'disposition';
    case 'case_opened':
    case 'closed':
      return null;
    default: {
      const unreachable: never = status;
      throw new Error(`unknown status ${String(unreachable)}`);
    }
  }
}

export function stageBudgetMs(policy: SlaPolicy, stage: SlaStage, priority: Priority): number {
  return Math.round(policy.stages[stage][priority] / policy.timeScale);
}

export function reEscalationMs(policy: SlaPolicy): number {
  return Math.round(policy.reEscalationInterval / policy.timeScale);
}

/** The longest a stabilisation pause runs before the second reminder, scaled like every other duration. */
export function stabilisationMaximumMs(policy: SlaPolicy): number {
  // A lead carries the policy it began with, and policies from before the setting lack it.
  const configured = (policy as { stabilisation?: { maximumPause?: number } }).stabilisation?.maximumPause;
  return Math.round((configured ?? DEFAULT_MAXIMUM_PAUSE_MS) / policy.timeScale);
}

const ms = (iso: string): number => Date.parse(iso);
const iso = (epochMs: number): string => new Date(epochMs).toISOString();

/** Time the stage's clock has used by `atMs`. */
export function usedMsAt(clock: SlaClock, atMs: number): number {
  return clock.usedMs + (clock.runningSince === null ? 0 : Math.max(0, atMs - ms(clock.runningSince)));
}

/** The instant the clock reaches `fraction` of its budget, or null while it is stopped. */
function instantOfFraction(clock: SlaClock, fraction: number): number | null {
  if (clock.runningSince === null || clock.stage === null) return null;
  return ms(clock.runningSince) + fraction * clock.budgetMs - clock.usedMs;
}

/** The stage deadline (100 % of budget), or null while paused or when no clock runs. */
export function stageDeadline(clock: SlaClock): string | null {
  const at = instantOfFraction(clock, 1);
  return at === null ? null : iso(at);
}

export type SlaAction = { kind: 'warning'; at: string } | { kind: 'escalation'; level: 1 | 2 | 3; at: string };

/** The next rung of the ladder the clock will reach, and when; null when nothing more will fire. */
export function nextSlaAction(state: LeadState, policy: SlaPolicy): SlaAction | null {
  return nextSlaActionOf(state.sla, policy);
}

/** The same, from the clock alone: what a `leads` row holds for a list, and what the SLA simulator replays. */
export function nextSlaActionOf(clock: SlaClock, policy: SlaPolicy): SlaAction | null {
  if (clock.stage === null || clock.runningSince === null) return null;
  if (!clock.warned && clock.level === 0) {
    const at = instantOfFraction(clock, policy.ladder.warningAt);
    return at === null ? null : { kind: 'warning', at: iso(at) };
  }
  if (clock.level >= 3) return null;
  const level = (clock.level + 1) as 1 | 2 | 3;
  const [l1, l2, l3] = policy.ladder.levels;
  const fraction = level === 1 ? l1 : level === 2 ? l2 : l3;
  let at = instantOfFraction(clock, fraction);
  if (at === null) return null;
  if (clock.holdUntil !== null) at = Math.max(at, ms(clock.holdUntil));
  return { kind: 'escalation', level, at: iso(at) };
}

export interface StabilisationReminderDue {
  reminder: StabilisationReminderKind;
  at: string;
}

/** The reminders of the running stabilisation pause not yet recorded, earliest first. */
export function pendingStabilisationReminders(state: LeadState): StabilisationReminderDue[] {
  const pause = state.sla.stabilisation;
  if (!state.sla.paused || pause === undefined || pause === null) return [];
  const reminders: StabilisationReminderDue[] = [
    { reminder: 'expected_end', at: pause.expectedEnd },
    { reminder: 'maximum', at: pause.maximumEnd },
  ];
  return reminders.filter((r) => !pause.reminded.includes(r.reminder)).sort((a, b) => ms(a.at) - ms(b.at));
}

/**
 * When the lead's workflow must next wake on its own: the next rung of the ladder or the next stabilisation reminder,
 * whichever is first; null when neither will come.
 */
export function nextWakeAt(state: LeadState, policy: SlaPolicy): string | null {
  const candidates = [
    nextSlaAction(state, policy)?.at,
    pendingStabilisationReminders(state)[0]?.at,
    // A lead without a partner clock (a public tip) has no partner rung.
    nextPartnerRung(state, policy)?.at,
  ].filter((at): at is string => at !== undefined);
  if (candidates.length === 0) return null;
  return candidates.reduce((earliest, at) => (ms(at) < ms(earliest) ? at : earliest));
}

/** A fresh clock for a stage entered at `at`; a paused lead stays paused (and a stabilisation pause stays one). */
export function startStage(previous: SlaClock, stage: SlaStage | null, budgetMs: number, at: string): SlaClock {
  const stabilisation = stage === null ? null : (previous.stabilisation ?? null);
  return {
    ...(stabilisation === null ? {} : { stabilisation }),
    stage,
    budgetMs: stage === null ? 0 : budgetMs,
    usedMs: 0,
    runningSince: stage === null || previous.paused ? null : at,
    paused: stage === null ? false : previous.paused,
    pausedAt: stage === null ? null : previous.pausedAt,
    warned: false,
    level: 0,
    holdUntil: null,
  };
}

export const idleClock: SlaClock = {
  stage: null,
  budgetMs: 0,
  usedMs: 0,
  runningSince: null,
  paused: false,
  pausedAt: null,
  warned: false,
  level: 0,
  holdUntil: null,
};

export type RungName = 'warning' | 'level1' | 'level2' | 'level3';
/** The next rung as the API names it: `level2` rather than an escalation of level 2. */
export interface NextRung {
  rung: RungName;
  at: string;
}

/**
 * The next rung of a stage's ladder, named for people and consoles; null while paused, once finished, and past level
 * 3. The clock carries the budget the stage started with (events record it), so a policy changed since does not
 * move a running stage's rungs; the ladder's fractions and the acknowledgement hold are the policy's.
 */
export function nextRung(clock: SlaClock, policy: SlaPolicy): NextRung | null {
  return rungOf(nextSlaActionOf(clock, policy));
}

export function rungOf(action: SlaAction | null): NextRung | null {
  if (action === null) return null;
  return { rung: action.kind === 'warning' ? 'warning' : `level${action.level}`, at: action.at };
}

/** The current stage's budget (already scaled), or null when no stage runs (a finished lead). */
export function currentStageBudgetMs(clock: SlaClock): number | null {
  return clock.stage === null ? null : clock.budgetMs;
}
