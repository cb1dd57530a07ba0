import type { LeadEvent } from '../schemas/events';
import type { Priority, SlaClock, SlaStage } from '../schemas/lead';
import type { SlaPolicy } from '../schemas/sla-policy';
import { partnerAcknowledgementBudgetMs, partnerLadder } from './partner';
import { idleClock, nextSlaActionOf, reEscalationMs, stageBudgetMs, stageDeadline, startStage, usedMsAt } from './sla';

/*
 * The SLA policy simulator: replays each lead's stage intervals (stage starts, pauses and resumes, acknowledgements,
 * priority changes, stage ends) under a policy, and says which rungs of the ladder that policy would have raised and
 * which stages would have run past their budget. The same walk, fed the log's own budgets and rungs, tallies what the
 * live system recorded; under the policy in force the two agree (the self-check).
 *
 * The people's actions stay where the log has them: a proposed policy changes the clocks, not when an agent
 * acted. An acknowledgement the log holds is applied only if the replayed ladder stands escalated at that moment
 * (the live system allows it only then); otherwise it is counted as having had nothing to hold.
 *
 * The partner loop's clock (domain/partner.ts) is replayed beside the stage clocks, as the live system runs it: its
 * budget is the policy's acknowledgement budget for the lead's priority at intake, it never pauses, and its two rungs
 * (the office supervisor, HQ) fall due at the policy's ladder fractions of that budget until the partner is
 * acknowledged: by a person (PartnerAcknowledged), by a routed assignment, or by a first milestone, each where the log
 * has it. Public tips carry no partner clock and raise nothing.
 */

/** What the clock needs of a logged event: its time, budgets, offices and rungs. No free text, no intake. */
export type ClockEvent =
  | {
      type: 'LeadReceived';
      at: string;
      priority: Priority;
      slaBudgetMs: number;
      /** The partner clock's acknowledgement budget the log recorded; absent for a lead without one (a public tip). */
      partnerBudgetMs?: number;
    }
  | { type: 'LeadValidated' | 'InterviewRequested' | 'InterviewCompleted'; at: string; slaBudgetMs: number }
  /** `routed`: placed by the routing rules, which acknowledges the partner (a manual assignment does not). */
  | { type: 'LeadAssigned'; at: string; office: string; slaBudgetMs: number; routed: boolean }
  | { type: 'LeadReassigned'; at: string; office: string }
  | { type: 'LeadRejected' | 'CaseOpened' | 'LeadClosed' | 'SlaPaused' | 'SlaResumed'; at: string }
  | { type: 'EscalationAcknowledged'; at: string; holdUntil: string }
  | { type: 'PriorityChanged'; at: string; to: Priority; slaBudgetMs: number }
  | { type: 'SlaWarning'; at: string; stage: SlaStage }
  | { type: 'LeadEscalated'; at: string; stage: SlaStage; level: 1 | 2 | 3 }
  | { type: 'PartnerAcknowledged'; at: string }
  | { type: 'PartnerAcknowledgementOverdue'; at: string; level: 1 | 2 };
export type ClockEventType = ClockEvent['type'];

/** The event types the clock reads; notes and reschedules leave it alone. */
export const clockEventTypes: readonly ClockEventType[] = [
  'LeadReceived',
  'LeadValidated',
  'LeadRejected',
  'LeadAssigned',
  'LeadReassigned',
  'InterviewRequested',
  'InterviewCompleted',
  'CaseOpened',
  'LeadClosed',
  'SlaPaused',
  'SlaResumed',
  'EscalationAcknowledged',
  'PriorityChanged',
  'SlaWarning',
  'LeadEscalated',
  'PartnerAcknowledged',
  'PartnerAcknowledgementOverdue',
];

/**
 * The logged event types the clock reads: its own, and two others it reads as its own (a
 * stabilisation pause stops the clock as a pause does; a safety record that raises the priority re-budgets the
 * stage as a priority change does).
 */
export const clockSourceEventTypes: readonly LeadEvent['type'][] = [
  ...clockEventTypes,
  'StabilisationPaused',
  'SafetyRecorded',
];

/** The clock's view of a full event; null for events that do not touch the clock. */
export function clockEventOf(event: LeadEvent): ClockEvent | null {
  const at = event.metadata.at;
  switch (event.type) {
    case 'LeadReceived':
      return {
        type: event.type,
        at,
        priority: event.data.priority,
        slaBudgetMs: event.data.slaBudgetMs,
        ...(event.data.partner === undefined ? {} : { partnerBudgetMs: event.data.partner.acknowledgementBudgetMs }),
      };
    case 'LeadValidated':
    case 'InterviewRequested':
    case 'InterviewCompleted':
      return { type: event.type, at, slaBudgetMs: event.data.slaBudgetMs };
    case 'LeadAssigned':
      return {
        type: event.type,
        at,
        office: event.data.office,
        slaBudgetMs: event.data.slaBudgetMs,
        routed: event.data.routed,
      };
    case 'LeadReassigned':
      return { type: event.type, at, office: event.data.office };
    case 'LeadRejected':
    case 'CaseOpened':
    case 'LeadClosed':
    case 'SlaPaused':
    case 'SlaResumed':
      return { type: event.type, at };
    case 'EscalationAcknowledged':
      return { type: event.type, at, holdUntil: event.data.holdUntil };
    case 'PriorityChanged':
      return { type: event.type, at, to: event.data.to, slaBudgetMs: event.data.slaBudgetMs };
    case 'SlaWarning':
      return { type: event.type, at, stage: event.data.stage };
    case 'LeadEscalated':
      return { type: event.type, at, stage: event.data.stage, level: event.data.level as 1 | 2 | 3 };
    case 'StabilisationPaused':
      return { type: 'SlaPaused', at };
    case 'SafetyRecorded':
      return event.data.priority === null
        ? null
        : { type: 'PriorityChanged', at, to: event.data.priority.to, slaBudgetMs: event.data.priority.slaBudgetMs };
    // The partner's clock is its own: it never moves the stage's, and the replay keeps it beside them.
    case 'PartnerAcknowledged':
      return { type: event.type, at };
    case 'PartnerAcknowledgementOverdue':
      return { type: event.type, at, level: event.data.level };
    case 'InterviewRescheduled':
    case 'NoteAdded':
    case 'StabilisationReminded':
      return null;
    default: {
      const unreachable: never = event;
      throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
    }
  }
}

export const rungs = ['warning', 'level1', 'level2', 'level3'] as const;
export type Rung = (typeof rungs)[number];
/** The office of a lead no office holds yet (its rungs go to HQ). Office ids are upper case, so it cannot clash. */
export const UNASSIGNED = '(unassigned)';

export interface RungRaised {
  rung: Rung;
  stage: SlaStage;
  office: string;
  /** When it fell due (simulated) or was recorded (the log). */
  at: string;
}

export interface StageBreach {
  stage: SlaStage;
  office: string;
  /** When the stage's clock passed its budget. */
  at: string;
}

/** The partner ladder's rungs: level 1 tells the office supervisor, level 2 HQ. */
export const partnerRungs = ['level1', 'level2'] as const;
export type PartnerRung = (typeof partnerRungs)[number];

export interface PartnerRungRaised {
  rung: PartnerRung;
  office: string;
  /** When it fell due (simulated) or was recorded (the log). */
  at: string;
}

export interface PartnerLate {
  office: string;
  /** When the acknowledgement budget ran out with the partner not yet acknowledged. */
  at: string;
}

export interface LeadReplay {
  rungs: RungRaised[];
  breaches: StageBreach[];
  /** The partner clock's rungs; none for a lead without one (a public tip). */
  partnerRungs: PartnerRungRaised[];
  /** Set when the partner's acknowledgement ran past its budget. */
  partnerLate: PartnerLate | null;
  /** True when the lead carries a partner clock. */
  partnerClock: boolean;
  /** Acknowledgements in the log made while the replayed ladder had nothing escalated: they held nothing. */
  idleAcknowledgements: number;
  /** Budgets (stage or partner acknowledgement) the log recorded that differ from the policy's: begun under another. */
  budgetsDiffering: number;
  /** True while the lead has not reached case_opened or closed. */
  open: boolean;
}

/** `policy`: replay under that policy. `recorded`: the log's own budgets, holds and rungs, as the live system ran. */
export type ReplayMode = { policy: SlaPolicy } | 'recorded';

const stageStartedBy: Partial<Record<ClockEventType, SlaStage>> = {
  LeadReceived: 'validation',
  LeadValidated: 'assignment',
  LeadAssigned: 'interview_request',
  InterviewRequested: 'interview',
  InterviewCompleted: 'disposition',
};
const ends: readonly ClockEventType[] = ['LeadRejected', 'CaseOpened', 'LeadClosed'];
/** Events that acknowledge the partner (domain/partner.ts evolvePartner): a person's, or a first milestone. */
const acknowledgesPartner: readonly ClockEventType[] = [
  'PartnerAcknowledged',
  'InterviewRequested',
  'InterviewCompleted',
  'CaseOpened',
  'LeadClosed',
  'LeadRejected',
];

interface ReplayedPartnerClock {
  receivedMs: number;
  budgetMs: number;
  /** Rungs reached so far. */
  level: 0 | 1 | 2;
  acknowledged: boolean;
  late: boolean;
}

/**
 * One lead's log (oldest first) replayed up to `asOfMs`: rungs due at or before an event fire before it (as the live
 * timer, armed earlier, does), an open lead's clock runs on to `asOfMs`, and events after it are not yet seen.
 */
export function replayLead(events: readonly ClockEvent[], mode: ReplayMode, asOfMs: number): LeadReplay {
  const policy = mode === 'recorded' ? undefined : mode.policy;
  const out: LeadReplay = {
    rungs: [],
    breaches: [],
    partnerRungs: [],
    partnerLate: null,
    partnerClock: false,
    idleAcknowledgements: 0,
    budgetsDiffering: 0,
    open: false,
  };
  let clock: SlaClock = idleClock;
  let partner: ReplayedPartnerClock | null = null;
  let priority: Priority = 'standard';
  let office = UNASSIGNED;
  let breached = false;
  let started = false;
  let ended = false;

  const budget = (stage: SlaStage, recordedMs: number, p: Priority) => {
    if (policy === undefined) return recordedMs;
    const ms = stageBudgetMs(policy, stage, p);
    if (ms !== recordedMs) out.budgetsDiffering++;
    return ms;
  };
  /** What the clock reaches by `atMs`, before the event at that instant applies. */
  const runTo = (atMs: number) => {
    if (policy !== undefined) {
      for (let action = nextSlaActionOf(clock, policy); action !== null; action = nextSlaActionOf(clock, policy)) {
        if (Date.parse(action.at) > atMs || clock.stage === null) break;
        const rung: Rung = action.kind === 'warning' ? 'warning' : `level${action.level}`;
        out.rungs.push({ rung, stage: clock.stage, office, at: action.at });
        clock =
          action.kind === 'warning' ? { ...clock, warned: true } : { ...clock, warned: true, level: action.level };
      }
    }
    const deadline = stageDeadline(clock);
    if (!breached && clock.stage !== null && deadline !== null && Date.parse(deadline) <= atMs) {
      breached = true;
      out.breaches.push({ stage: clock.stage, office, at: deadline });
    }
    runPartnerTo(atMs);
  };
  /** The partner clock's rungs (under a policy) and lateness due by `atMs`, while the partner still waits. */
  const runPartnerTo = (atMs: number) => {
    if (partner === null || partner.acknowledged || ended) return;
    if (policy !== undefined) {
      const ladder = partnerLadder(policy);
      while (partner.level < 2) {
        const level = (partner.level + 1) as 1 | 2;
        // As domain/partner.ts nextPartnerRung computes the instant.
        const due = new Date(partner.receivedMs + (ladder[level - 1] ?? level) * partner.budgetMs);
        if (due.getTime() > atMs) break;
        out.partnerRungs.push({ rung: `level${level}`, office, at: due.toISOString() });
        partner.level = level;
      }
    }
    const lateAt = new Date(partner.receivedMs + partner.budgetMs);
    if (!partner.late && lateAt.getTime() <= atMs) {
      partner.late = true;
      out.partnerLate = { office, at: lateAt.toISOString() };
    }
  };

  for (const event of events) {
    const atMs = Date.parse(event.at);
    // A replay as of an earlier instant sees the log as it stood then.
    if (atMs > asOfMs) break;
    runTo(atMs);
    const stage = stageStartedBy[event.type];
    if (event.type === 'LeadReceived') {
      started = true;
      priority = event.priority;
      if (event.partnerBudgetMs !== undefined) {
        // The budget by the priority at intake: a later change of priority leaves the partner's clock alone.
        let budgetMs = event.partnerBudgetMs;
        if (policy !== undefined) {
          budgetMs = partnerAcknowledgementBudgetMs(policy, event.priority);
          if (budgetMs !== event.partnerBudgetMs) out.budgetsDiffering++;
        }
        partner = { receivedMs: atMs, budgetMs, level: 0, acknowledged: false, late: false };
        out.partnerClock = true;
      }
    }
    if (
      partner !== null &&
      (acknowledgesPartner.includes(event.type) || (event.type === 'LeadAssigned' && event.routed))
    )
      partner.acknowledged = true;
    if (stage !== undefined && 'slaBudgetMs' in event) {
      clock = startStage(clock, stage, budget(stage, event.slaBudgetMs, priority), event.at);
      breached = false;
    }
    if (ends.includes(event.type)) {
      clock = startStage(clock, null, 0, event.at);
      ended = true;
    }
    switch (event.type) {
      case 'LeadAssigned':
      case 'LeadReassigned':
        office = event.office;
        break;
      case 'SlaPaused':
        clock = { ...clock, usedMs: usedMsAt(clock, atMs), runningSince: null, paused: true, pausedAt: event.at };
        break;
      case 'SlaResumed':
        clock = { ...clock, runningSince: clock.stage === null ? null : event.at, paused: false, pausedAt: null };
        break;
      case 'EscalationAcknowledged':
        if (policy === undefined) clock = { ...clock, holdUntil: event.holdUntil };
        else if (clock.level > 0)
          clock = { ...clock, holdUntil: new Date(atMs + reEscalationMs(policy)).toISOString() };
        else out.idleAcknowledgements++;
        break;
      case 'PriorityChanged':
        priority = event.to;
        if (clock.stage !== null) clock = { ...clock, budgetMs: budget(clock.stage, event.slaBudgetMs, priority) };
        break;
      case 'PartnerAcknowledgementOverdue':
        // As the stage's rungs: the log's are the recorded tally, a replay under a policy raises its own.
        if (policy === undefined) out.partnerRungs.push({ rung: `level${event.level}`, office, at: event.at });
        break;
      case 'SlaWarning':
      case 'LeadEscalated':
        // The live rungs are the recorded tally; a replay under a policy raises its own.
        if (policy === undefined) {
          const rung: Rung = event.type === 'SlaWarning' ? 'warning' : `level${event.level}`;
          out.rungs.push({ rung, stage: event.stage, office, at: event.at });
          clock =
            event.type === 'SlaWarning' ? { ...clock, warned: true } : { ...clock, warned: true, level: event.level };
        }
        break;
      default:
        break;
    }
  }
  out.open = started && !ended;
  if (out.open) runTo(asOfMs);
  return out;
}

/**
 * Counts by office: rungs raised, leads whose stage clock passed its budget, the partner ladder's rungs, and leads
 * whose partner was not acknowledged within its budget.
 */
export interface SlaTally {
  rungs: Record<string, Record<Rung, number>>;
  breaches: Record<string, Record<SlaStage, number>>;
  partnerRungs: Record<string, Record<PartnerRung, number>>;
  partnerLate: Record<string, number>;
  idleAcknowledgements: number;
}

export interface LeadLog {
  leadId: string;
  events: readonly ClockEvent[];
}

export interface SimulationInput {
  leads: readonly LeadLog[];
  inForce: SlaPolicy;
  proposed: SlaPolicy;
  /** Open leads' clocks run to this instant. */
  asOf: string;
  /** Count only rungs and breaches that fell to this office. */
  office?: string;
}

/** A lead whose live rungs differ from its replay under the policy in force, with the likeliest reason. */
export interface SelfCheckDifference {
  leadId: string;
  /** The stage whose ladder differs, or `partner` for the partner clock's. */
  stage: SlaStage | 'partner';
  rung: Rung;
  recorded: number;
  inForce: number;
  reason: string;
}

export interface SimulationResult {
  leads: number;
  events: number;
  asOf: string;
  recorded: SlaTally;
  inForce: SlaTally;
  proposed: SlaTally;
  /** Leads whose log recorded budgets other than the policy in force gives (begun under another policy). */
  leadsOnOtherBudgets: number;
  /** Leads that carry a partner clock (every source but the public). */
  leadsWithPartnerClock: number;
  selfCheck: SelfCheckDifference[];
}

/** The log's own rungs: what a replay under a policy raises itself. */
const rungEvents: readonly ClockEventType[] = ['SlaWarning', 'LeadEscalated', 'PartnerAcknowledgementOverdue'];

/** Late rungs within this of the read are taken as not recorded yet (a timer fires ~1 s after its instant). */
const TIMER_LAG_MS = 5_000;

/** Replays every lead under the log's own record, the policy in force and the proposed one. */
export function simulateSlaPolicies(input: SimulationInput): SimulationResult {
  const asOfMs = Date.parse(input.asOf);
  const tallies = { recorded: emptyTally(), inForce: emptyTally(), proposed: emptyTally() };
  const selfCheck: SelfCheckDifference[] = [];
  let events = 0;
  let leadsOnOtherBudgets = 0;
  let leadsWithPartnerClock = 0;
  for (const lead of input.leads) {
    events += lead.events.length;
    const recorded = replayLead(lead.events, 'recorded', asOfMs);
    const inForce = replayLead(lead.events, { policy: input.inForce }, asOfMs);
    const proposed = replayLead(lead.events, { policy: input.proposed }, asOfMs);
    if (inForce.budgetsDiffering > 0) leadsOnOtherBudgets++;
    if (recorded.partnerClock) leadsWithPartnerClock++;
    addTo(tallies.recorded, recorded, input.office);
    addTo(tallies.inForce, inForce, input.office);
    addTo(tallies.proposed, proposed, input.office);
    selfCheck.push(...compareLead(lead, recorded, inForce, asOfMs, input.office));
  }
  return {
    leads: input.leads.length,
    events,
    asOf: input.asOf,
    ...tallies,
    leadsOnOtherBudgets,
    leadsWithPartnerClock,
    selfCheck,
  };
}

/** Sums the offices' rows: the `all offices` line of each table. */
export function totals(tally: SlaTally): {
  rungs: Record<Rung, number>;
  breaches: Record<SlaStage, number>;
  partnerRungs: Record<PartnerRung, number>;
  partnerLate: number;
} {
  const rungsTotal = { warning: 0, level1: 0, level2: 0, level3: 0 };
  for (const row of Object.values(tally.rungs)) for (const r of rungs) rungsTotal[r] += row[r];
  const breachesTotal = { validation: 0, assignment: 0, interview_request: 0, interview: 0, disposition: 0 };
  for (const row of Object.values(tally.breaches))
    for (const s of Object.keys(breachesTotal) as SlaStage[]) breachesTotal[s] += row[s];
  const partnerTotal = { level1: 0, level2: 0 };
  for (const row of Object.values(tally.partnerRungs)) for (const r of partnerRungs) partnerTotal[r] += row[r];
  const lateTotal = Object.values(tally.partnerLate).reduce((a, b) => a + b, 0);
  return { rungs: rungsTotal, breaches: breachesTotal, partnerRungs: partnerTotal, partnerLate: lateTotal };
}

function emptyTally(): SlaTally {
  return { rungs: {}, breaches: {}, partnerRungs: {}, partnerLate: {}, idleAcknowledgements: 0 };
}

function addTo(tally: SlaTally, replay: LeadReplay, office: string | undefined) {
  for (const r of replay.rungs) {
    if (office !== undefined && r.office !== office) continue;
    const row = (tally.rungs[r.office] ??= { warning: 0, level1: 0, level2: 0, level3: 0 });
    row[r.rung]++;
  }
  for (const b of replay.breaches) {
    if (office !== undefined && b.office !== office) continue;
    const row = (tally.breaches[b.office] ??= {
      validation: 0,
      assignment: 0,
      interview_request: 0,
      interview: 0,
      disposition: 0,
    });
    row[b.stage]++;
  }
  for (const r of replay.partnerRungs) {
    if (office !== undefined && r.office !== office) continue;
    const row = (tally.partnerRungs[r.office] ??= { level1: 0, level2: 0 });
    row[r.rung]++;
  }
  const late = replay.partnerLate;
  if (late !== null && (office === undefined || late.office === office)) {
    tally.partnerLate[late.office] = (tally.partnerLate[late.office] ?? 0) + 1;
  }
  tally.idleAcknowledgements += replay.idleAcknowledgements;
}

function compareLead(
  lead: LeadLog,
  recorded: LeadReplay,
  inForce: LeadReplay,
  asOfMs: number,
  office: string | undefined,
): SelfCheckDifference[] {
  const count = (replay: LeadReplay) => {
    const counts = new Map<string, { at: string }[]>();
    const all = [...replay.rungs, ...replay.partnerRungs.map((r) => ({ ...r, stage: 'partner' as const }))];
    for (const r of all) {
      if (office !== undefined && r.office !== office) continue;
      const key = `${r.stage}|${r.rung}`;
      counts.set(key, [...(counts.get(key) ?? []), r]);
    }
    return counts;
  };
  const live = count(recorded);
  const replayed = count(inForce);
  const differences: SelfCheckDifference[] = [];
  for (const key of new Set([...live.keys(), ...replayed.keys()])) {
    const a = live.get(key) ?? [];
    const b = replayed.get(key) ?? [];
    if (a.length === b.length) continue;
    const [stage, rung] = key.split('|') as [SlaStage | 'partner', Rung];
    differences.push({
      leadId: lead.leadId,
      stage,
      rung,
      recorded: a.length,
      inForce: b.length,
      reason: explain(lead, inForce, b[b.length - 1], a.length < b.length, asOfMs),
    });
  }
  return differences;
}

function explain(
  lead: LeadLog,
  inForce: LeadReplay,
  rung: { at: string } | undefined,
  replayRaisedMore: boolean,
  asOfMs: number,
): string {
  if (inForce.budgetsDiffering > 0) return 'the log recorded other budgets: the lead began under another policy';
  if (replayRaisedMore && rung !== undefined) {
    const dueMs = Date.parse(rung.at);
    const next = lead.events.find((e) => Date.parse(e.at) >= dueMs && !rungEvents.includes(e.type));
    if (next === undefined && inForce.open && asOfMs - dueMs <= TIMER_LAG_MS) {
      return `due ${asOfMs - dueMs} ms before the read: not recorded yet`;
    }
    if (next !== undefined && Date.parse(next.at) - dueMs <= TIMER_LAG_MS) {
      return `due ${Date.parse(next.at) - dueMs} ms before ${next.type}, which the live workflow took first`;
    }
  }
  return 'not explained: the live ladder and the replay disagree';
}
