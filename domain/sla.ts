import type { LeadState, Priority, SlaClock, SlaStage, LeadStatus } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';

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
  return nextClockAction(state.sla, policy);
}

/** The same for a clock alone: the SLA simulator replays clocks without the rest of a lead's state. */
export function nextClockAction(clock: SlaClock, policy: SlaPolicy): SlaAction | null {
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

/** A fresh clock for a stage entered at `at`; a paused lead stays paused. */
export function startStage(previous: SlaClock, stage: SlaStage | null, budgetMs: number, at: string): SlaClock {
  return {
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
