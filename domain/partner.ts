/**
 * The partner loop (issue 17): the referring partner is owed an acknowledgement within a budget from intake, and a
 * word at each milestone it may know. Its own clock, beside the stage clocks: it does not pause with them (a pause for
 * victim care is no reason to leave a partner unanswered), and its ladder has two rungs, the office supervisor and HQ.
 * Pure, like the rest of the domain: the facts come from events, the budgets from the policy.
 */
import type { LeadEvent } from '../schemas/events';
import type { LeadIntake } from '../schemas/intake';
import type { CloseReason, LeadState, Priority } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';
import {
  DEFAULT_PARTNER_LADDER,
  isTerminal,
  type PartnerMilestone,
  type PartnerOverdueLevel,
} from '../schemas/vocabulary';

export type PartnerClock = NonNullable<LeadState['partner']>;

const H = 3_600_000;
/** The acknowledgement budgets of a policy from before the partner loop (a lead carries the policy it began with). */
const DEFAULT_ACKNOWLEDGEMENT_MS: Record<Priority, number> = { standard: 24 * H, urgent: 2 * H };

type PartnerPolicy = { acknowledgement?: Record<Priority, number>; ladder?: readonly [number, number] };
const partnerPolicyOf = (policy: SlaPolicy) => (policy as { partner?: PartnerPolicy }).partner;

/** The acknowledgement budget for a lead of this priority, scaled like every other duration. */
export function partnerAcknowledgementBudgetMs(policy: SlaPolicy, priority: Priority): number {
  const configured = partnerPolicyOf(policy)?.acknowledgement?.[priority] ?? DEFAULT_ACKNOWLEDGEMENT_MS[priority];
  return Math.round(configured / policy.timeScale);
}

/** The fractions of the acknowledgement budget at which rung 1 (the office supervisor) and rung 2 (HQ) fall due. */
export function partnerLadder(policy: SlaPolicy): readonly [number, number] {
  return partnerPolicyOf(policy)?.ladder ?? DEFAULT_PARTNER_LADDER;
}

/**
 * Whether a lead owes its referrer the loop: every source but the public. A member of the public is not a partner
 * the memo asks the agency to answer, and telling an anonymous caller what became of a lead could reach the
 * trafficker as easily as anyone.
 */
export function owesPartnerLoop(intake: LeadIntake): boolean {
  return intake.source !== 'public';
}

export function startPartnerClock(
  partner: { id: string | null; acknowledgementBudgetMs: number },
  receivedAt: string,
): PartnerClock {
  return {
    id: partner.id,
    budgetMs: partner.acknowledgementBudgetMs,
    dueAt: new Date(Date.parse(receivedAt) + partner.acknowledgementBudgetMs).toISOString(),
    acknowledgedAt: null,
    acknowledgedBy: null,
    overdueLevel: 0,
    milestones: [],
  };
}

/** True while the lead is open and its partner still waits for the acknowledgement. */
export function partnerAcknowledgementOwed(state: LeadState): boolean {
  return state.partner !== undefined && state.partner.acknowledgedAt === null && !isTerminal(state.status);
}

export interface PartnerRungDue {
  level: PartnerOverdueLevel;
  at: string;
}

/** The next rung of a late acknowledgement, and when; null once acknowledged, finished, or past HQ's rung. */
export function nextPartnerRung(state: LeadState, policy: SlaPolicy): PartnerRungDue | null {
  const partner = state.partner;
  if (partner === undefined || !partnerAcknowledgementOwed(state) || partner.overdueLevel >= 2) return null;
  const level = (partner.overdueLevel + 1) as PartnerOverdueLevel;
  const fraction = partnerLadder(policy)[level - 1] ?? level;
  return { level, at: new Date(Date.parse(state.receivedAt) + fraction * partner.budgetMs).toISOString() };
}

/** The milestone an event is for the partner, with a closure's category; null for any other event. */
export function partnerMilestoneOf(
  event: LeadEvent,
): { milestone: PartnerMilestone; category: CloseReason | null } | null {
  switch (event.type) {
    case 'InterviewRequested':
      return { milestone: 'interview_scheduled', category: null };
    case 'InterviewCompleted':
      return { milestone: 'interview_held', category: null };
    case 'CaseOpened':
      return { milestone: 'case_opened', category: null };
    case 'LeadClosed':
      return { milestone: 'lead_closed', category: event.data.reason };
    case 'LeadRejected':
      return { milestone: 'lead_closed', category: event.data.reason };
    default:
      return null;
  }
}

/**
 * The partner's clock after an event. A routed assignment is the acknowledgement (the rules placed the lead with an
 * office that answers for it); a person's AcknowledgePartner is one; so is a first milestone, which tells the partner
 * more than an acknowledgement would. A manual assignment is not: the person placing a lead is not yet its office.
 */
export function evolvePartner(partner: PartnerClock, event: LeadEvent): PartnerClock {
  const at = event.metadata.at;
  const acknowledged = (by: NonNullable<PartnerClock['acknowledgedBy']>): PartnerClock =>
    partner.acknowledgedAt === null ? { ...partner, acknowledgedAt: at, acknowledgedBy: by } : partner;
  if (event.type === 'PartnerAcknowledged') return acknowledged('command');
  if (event.type === 'PartnerAcknowledgementOverdue') return { ...partner, overdueLevel: event.data.level };
  if (event.type === 'LeadAssigned' && event.data.routed) return acknowledged('routing');
  const milestone = partnerMilestoneOf(event);
  if (milestone === null) return partner;
  return { ...acknowledged('milestone'), milestones: [...partner.milestones, { ...milestone, at }] };
}
