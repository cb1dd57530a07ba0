import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { policyChanges } from '../activities/policy-simulation';
import { allowedCommands, decide, evolve, nextWakeAt, partnerAcknowledgementOwed } from '../domain';
import {
  clockEventOf,
  replayLead,
  simulateSlaPolicies,
  type ClockEvent,
  type LeadReplay,
  type ReplayMode,
} from '../domain/sla-simulation';
import type { LeadCommand } from '../schemas/commands';
import type { LeadEvent } from '../schemas/events';
import { isTerminal, type LeadState } from '../schemas/lead';
import { SlaPolicy, defaultSlaPolicy, defaultSlaPolicyInput, type SlaPolicyInput } from '../schemas/sla-policy';
import { sampleIntake } from './support/lead-fixtures';

const inForce = defaultSlaPolicy();
const propose = (changes: Partial<SlaPolicyInput>): SlaPolicy =>
  SlaPolicy.parse({ ...defaultSlaPolicyInput, version: 'proposed', ...changes });
const LEAD = '6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01';
const T0 = Date.parse('2026-11-02T09:00:00.000Z');
const H = 3_600_000;
const iso = (hours: number) => new Date(T0 + hours * H).toISOString();

type Step = [hours: number, type: LeadCommand['type'], data?: Record<string, unknown>];
const receive = (name = 'ngo-farmworkers'): Step => [0, 'ReceiveLead', { leadId: LEAD, intake: sampleIntake(name) }];
const validate = (h: number): Step => [h, 'ValidateLead', { outcome: 'valid', fingerprint: 'fp-1' }];
const assign = (h: number, office = 'HSI-MIAMI'): Step => [h, 'AssignLead', { office, routed: true }];

/**
 * The live system in miniature: the people's commands at their hours, and between them the lead's timer recording
 * each rung (the stage's, the partner clock's) at the instant it falls due (a CheckSla at the workflow's next wake),
 * up to `asOfHours`.
 */
function liveLog(steps: Step[], asOfHours: number, policy: SlaPolicy = inForce): LeadEvent[] {
  let state: LeadState | undefined;
  let ids = 0;
  const log: LeadEvent[] = [];
  const apply = (type: LeadCommand['type'], data: Record<string, unknown>, at: string) => {
    const command = { type, data, metadata: { actor: 'test', at, commandId: `c-${++ids}` } } as LeadCommand;
    const decision = decide(command, state, policy);
    if (!decision.ok) throw new Error(decision.error.message);
    for (const event of decision.events) {
      log.push(event);
      state = evolve(state, event);
    }
  };
  const timerUntil = (ms: number) => {
    for (let s = state; s !== undefined && !isTerminal(s.status); s = state) {
      const due = nextWakeAt(s, policy);
      if (due === null || Date.parse(due) > ms) return;
      apply('CheckSla', {}, due);
    }
  };
  for (const [hours, type, data] of steps) {
    timerUntil(T0 + hours * H);
    apply(type, data ?? {}, iso(hours));
  }
  timerUntil(T0 + asOfHours * H);
  return log;
}

const clockEvents = (log: LeadEvent[]) => log.map(clockEventOf).filter((e): e is ClockEvent => e !== null);
const replay = (log: LeadEvent[], mode: ReplayMode, asOfHours: number) =>
  replayLead(clockEvents(log), mode, T0 + asOfHours * H);
const rungsOf = (r: LeadReplay) => r.rungs.map((x) => `${x.stage} ${x.rung} ${x.office} ${x.at}`);
const partnerRungsOf = (r: LeadReplay) => r.partnerRungs.map((x) => `${x.rung} ${x.office} ${x.at}`);
const acknowledgePartner = (h: number): Step => [h, 'AcknowledgePartner', {}];

/** Given this log (as the live system recorded it), when it is replayed under a policy, then these rungs. */
function given(steps: Step[], asOfHours: number) {
  const log = liveLog(steps, asOfHours);
  return {
    log,
    whenReplayedUnder(policy: SlaPolicy) {
      return replay(log, { policy }, asOfHours);
    },
    recorded: () => replay(log, 'recorded', asOfHours),
  };
}

describe('the policy in force gives what the live system recorded', () => {
  it('an unassigned standard lead: the log holds a warning and level 1, and so does the replay', () => {
    const history = given([receive(), validate(0.5)], 30);
    const recorded = history.recorded();
    expect(rungsOf(recorded)).toEqual([
      `assignment warning (unassigned) ${iso(18.5)}`,
      `assignment level1 (unassigned) ${iso(24.5)}`,
    ]);
    expect(rungsOf(history.whenReplayedUnder(inForce))).toEqual(rungsOf(recorded));
    expect(recorded.breaches).toEqual([{ stage: 'assignment', office: '(unassigned)', at: iso(24.5) }]);
  });

  it('a lead finished in time raises nothing under either', () => {
    const history = given(
      [
        receive(),
        validate(0.5),
        assign(1),
        [
          20,
          'RequestInterview',
          { scheduledFor: iso(40), place: 'office', interpreterLanguage: 'es', victimSpecialist: true },
        ],
        [40, 'CompleteInterview', { outcome: 'victim_identified' }],
        [50, 'OpenCase', { caseNumber: 'HSI-MIA-2026-0001' }],
      ],
      500,
    );
    expect(history.recorded().rungs).toEqual([]);
    expect(history.whenReplayedUnder(inForce).rungs).toEqual([]);
    expect(history.whenReplayedUnder(inForce).open).toBe(false);
  });
});

describe('a proposed policy', () => {
  it('with shorter assignment budgets raises more rungs, each at its own fraction', () => {
    const history = given([receive(), validate(0.5)], 30);
    const proposed = propose({
      stages: { ...defaultSlaPolicyInput.stages, assignment: { standard: '12h', urgent: '2h' } },
    });
    expect(rungsOf(history.whenReplayedUnder(proposed))).toEqual([
      `assignment warning (unassigned) ${iso(9.5)}`,
      `assignment level1 (unassigned) ${iso(12.5)}`,
      `assignment level2 (unassigned) ${iso(18.5)}`,
      `assignment level3 (unassigned) ${iso(24.5)}`,
    ]);
  });

  it('with a later warning fraction warns later, and not at all when the stage ends first', () => {
    const steps: Step[] = [receive(), validate(0.5), assign(19)];
    const history = given(steps, 30);
    expect(history.recorded().rungs.map((r) => r.rung)).toEqual(['warning']);
    const proposed = propose({ ladder: { warningAt: 0.9, levels: [1, 1.5, 2] } });
    expect(history.whenReplayedUnder(proposed).rungs).toEqual([]);
  });

  it('keeps a pause: the clock stops for its length and resumes with the time already used', () => {
    const history = given(
      [
        receive(),
        validate(0.5),
        assign(1),
        [2, 'PauseSla', { justification: 'victim stabilisation' }],
        [12, 'ResumeSla', {}],
      ],
      100,
    );
    // 48 h budget from 1 h, paused 10 h: level 1 at 59 h in force; 24 h proposed: level 1 at 35 h.
    const proposed = propose({
      stages: { ...defaultSlaPolicyInput.stages, interview_request: { standard: '24h', urgent: '12h' } },
    });
    const at = (r: LeadReplay) => r.rungs.find((x) => x.rung === 'level1')?.at;
    expect(at(history.recorded())).toBe(iso(59));
    expect(at(history.whenReplayedUnder(inForce))).toBe(iso(59));
    expect(at(history.whenReplayedUnder(proposed))).toBe(iso(35));
  });

  it('reads a stabilisation pause as a pause, and a safety record that raises the priority as a priority change', () => {
    const history = given(
      [
        receive(),
        validate(0.5),
        assign(1),
        [2, 'PauseForStabilisation', { category: 'shelter', expectedEnd: iso(12) }],
        [12, 'ResumeSla', {}],
        [13, 'RecordSafety', { immediateDanger: true }],
      ],
      100,
    );
    // From 1 h, paused 2–12 h: 2 h used at 13 h, when danger makes it urgent (12 h budget): level 1 at 23 h.
    const at = (r: LeadReplay) => r.rungs.find((x) => x.rung === 'level1')?.at;
    expect(at(history.recorded())).toBe(iso(23));
    expect(at(history.whenReplayedUnder(inForce))).toBe(iso(23));
  });

  it('holds the ladder after an acknowledgement for its own re-escalation interval', () => {
    const history = given([receive(), validate(0.5), [25, 'AcknowledgeEscalation', {}]], 40);
    // Level 2 was due at 36.5 h; the 4 h hold ends at 29 h, so it comes at 36.5 h in force.
    const proposedHold = propose({ reEscalationInterval: '16h' });
    const level2 = (r: LeadReplay) => r.rungs.find((x) => x.rung === 'level2')?.at;
    expect(level2(history.recorded())).toBe(iso(36.5));
    expect(level2(history.whenReplayedUnder(inForce))).toBe(iso(36.5));
    expect(level2(history.whenReplayedUnder(proposedHold))).toBeUndefined();
    expect(level2(replay(history.log, { policy: proposedHold }, 42))).toBe(iso(41));
  });

  it('counts an acknowledgement made while its replayed ladder had nothing escalated as holding nothing', () => {
    const history = given([receive(), validate(0.5), [25, 'AcknowledgeEscalation', {}]], 30);
    const longer = propose({
      stages: { ...defaultSlaPolicyInput.stages, assignment: { standard: '48h', urgent: '2h' } },
    });
    const replayed = history.whenReplayedUnder(longer);
    expect(replayed.idleAcknowledgements).toBe(1);
    expect(replayed.rungs.map((r) => r.rung)).toEqual([]);
  });

  it('recomputes the budget on a priority change, keeping the time used', () => {
    const history = given(
      [receive(), validate(0.5), assign(1), [3, 'ChangePriority', { priority: 'urgent', reason: 'minor' }]],
      20,
    );
    // Urgent interview_request: 12 h in force (level 1 at 13 h), 6 h proposed (level 1 at 7 h).
    const proposed = propose({
      stages: { ...defaultSlaPolicyInput.stages, interview_request: { standard: '48h', urgent: '6h' } },
    });
    const level1 = (r: LeadReplay) => r.rungs.find((x) => x.rung === 'level1')?.at;
    expect(level1(history.whenReplayedUnder(inForce))).toBe(iso(13));
    expect(level1(history.whenReplayedUnder(proposed))).toBe(iso(7));
  });

  it('as of an earlier instant sees only what the log held then', () => {
    const history = given([receive(), validate(0.5), assign(10)], 80);
    // As of 9 h the lead is still unassigned and nothing has fallen due; the assignment at 10 h is not seen yet.
    const early = replay(history.log, { policy: inForce }, 9);
    expect(early.open).toBe(true);
    expect(early.rungs).toEqual([]);
    expect(replay(history.log, 'recorded', 9).rungs).toEqual([]);
    const late = replay(history.log, { policy: inForce }, 80);
    expect(late.rungs.map((r) => `${r.rung} ${r.office}`)).toEqual(['warning HSI-MIAMI', 'level1 HSI-MIAMI']);
  });

  it('gives each rung and breach to the office that held the lead when it fell due', () => {
    const history = given(
      [
        receive(),
        validate(0.5),
        assign(1, 'HSI-MIAMI'),
        [45, 'ReassignLead', { office: 'HSI-NEWARK', reason: 'jurisdiction' }],
      ],
      80,
    );
    const replayed = history.whenReplayedUnder(inForce);
    expect(replayed.rungs.map((r) => `${r.rung} ${r.office}`)).toEqual([
      'warning HSI-MIAMI',
      'level1 HSI-NEWARK',
      'level2 HSI-NEWARK',
    ]);
    expect(replayed.breaches.map((b) => b.office)).toEqual(['HSI-NEWARK']);
  });
});

describe("the partner clock: the referring partner's acknowledgement and its two rungs", () => {
  it('an acknowledgement on time raises nothing, recorded or replayed', () => {
    // Given a partner's lead (24 h budget) left unassigned, and its partner acknowledged at 10 h,
    const history = given([receive(), validate(0.5), acknowledgePartner(10)], 100);
    // when it is replayed under the policy in force, then no partner rung and nothing late.
    for (const replayed of [history.recorded(), history.whenReplayedUnder(inForce)]) {
      expect(replayed.partnerClock).toBe(true);
      expect(replayed.partnerRungs).toEqual([]);
      expect(replayed.partnerLate).toBeNull();
    }
  });

  it('a late one raises level 1 then level 2 at their fractions of the budget, to the office holding the lead', () => {
    // Given a partner's lead assigned by hand at 30 h (no acknowledgement) and its partner acknowledged at 50 h,
    const history = given(
      [receive(), validate(0.5), [30, 'AssignLead', { office: 'HSI-MIAMI', routed: false }], acknowledgePartner(50)],
      60,
    );
    // when replayed under the policy in force (ladder 100 %, 200 % of 24 h), then the rungs the live timer recorded,
    const expected = [`level1 (unassigned) ${iso(24)}`, `level2 HSI-MIAMI ${iso(48)}`];
    expect(partnerRungsOf(history.recorded())).toEqual(expected);
    expect(partnerRungsOf(history.whenReplayedUnder(inForce))).toEqual(expected);
    expect(history.whenReplayedUnder(inForce).partnerLate).toEqual({ office: '(unassigned)', at: iso(24) });
    // and under a ladder at 50 % and 150 %, the same rungs at those fractions.
    const earlier = propose({ partner: { acknowledgement: { standard: '24h', urgent: '2h' }, ladder: [0.5, 1.5] } });
    expect(partnerRungsOf(history.whenReplayedUnder(earlier))).toEqual([
      `level1 (unassigned) ${iso(12)}`,
      `level2 HSI-MIAMI ${iso(36)}`,
    ]);
  });

  it('a shorter proposed budget raises more, and a longer one fewer', () => {
    // Given a partner acknowledged at 20 h, within the 24 h in force,
    const history = given([receive(), validate(0.5), acknowledgePartner(20)], 100);
    expect(history.whenReplayedUnder(inForce).partnerRungs).toEqual([]);
    // when replayed under an 8 h budget, then both rungs (8 h, 16 h) and the acknowledgement late;
    const eightHours = propose({ partner: { acknowledgement: { standard: '8h', urgent: '1h' }, ladder: [1, 2] } });
    const replayed = history.whenReplayedUnder(eightHours);
    expect(partnerRungsOf(replayed)).toEqual([`level1 (unassigned) ${iso(8)}`, `level2 (unassigned) ${iso(16)}`]);
    expect(replayed.partnerLate?.at).toBe(iso(8));
    // and under a 12 h budget, level 1 alone.
    const twelveHours = propose({ partner: { acknowledgement: { standard: '12h', urgent: '1h' }, ladder: [1, 2] } });
    expect(partnerRungsOf(history.whenReplayedUnder(twelveHours))).toEqual([`level1 (unassigned) ${iso(12)}`]);
    // A lead that began under another budget is named as such.
    expect(history.whenReplayedUnder(eightHours).budgetsDiffering).toBeGreaterThan(0);
  });

  it("takes the budget by the lead's priority at intake, whatever its priority later", () => {
    // Given an urgent intake (a minor: 2 h in force) made standard at 1 h, and its partner acknowledged at 3 h,
    const history = given(
      [
        receive('hhs-tipline-minor'),
        validate(0.5),
        [1, 'ChangePriority', { priority: 'standard', reason: 'review' }],
        acknowledgePartner(3),
      ],
      10,
    );
    // then level 1 at 2 h, as recorded; a proposed urgent budget of 4 h raises nothing.
    expect(partnerRungsOf(history.recorded())).toEqual([`level1 (unassigned) ${iso(2)}`]);
    expect(partnerRungsOf(history.whenReplayedUnder(inForce))).toEqual([`level1 (unassigned) ${iso(2)}`]);
    const fourHours = propose({ partner: { acknowledgement: { standard: '24h', urgent: '4h' }, ladder: [1, 2] } });
    expect(history.whenReplayedUnder(fourHours).partnerRungs).toEqual([]);
  });

  it('a routed assignment or a first milestone acknowledges the partner, as the live lead does', () => {
    const oneHour = propose({ partner: { acknowledgement: { standard: '1h', urgent: '30m' }, ladder: [1, 2] } });
    // Given a lead routed at 1.5 h: under a 1 h budget level 1 (1 h) comes, level 2 (2 h) does not.
    const routed = given([receive(), validate(0.5), assign(1.5)], 100);
    expect(partnerRungsOf(routed.whenReplayedUnder(oneHour))).toEqual([`level1 (unassigned) ${iso(1)}`]);
    expect(routed.whenReplayedUnder(inForce).partnerRungs).toEqual([]);
  });

  it('a lead without a partner clock (a public tip) raises nothing, whatever the budget', () => {
    // Given a public tip left unassigned for 100 h,
    const history = given([receive('public-unknown-jurisdiction'), validate(0.5)], 100);
    const oneHour = propose({ partner: { acknowledgement: { standard: '1h', urgent: '30m' }, ladder: [1, 2] } });
    // when replayed under any policy, then no partner clock, no rung, nothing late.
    for (const replayed of [
      history.recorded(),
      history.whenReplayedUnder(inForce),
      history.whenReplayedUnder(oneHour),
    ]) {
      expect(replayed.partnerClock).toBe(false);
      expect(replayed.partnerRungs).toEqual([]);
      expect(replayed.partnerLate).toBeNull();
    }
  });

  it('is tallied by office and rung, checked lead by lead, and its fields named among the changes', () => {
    const late = liveLog([receive(), validate(0.5), [30, 'AssignLead', { office: 'HSI-MIAMI', routed: false }]], 60);
    const publicTip = liveLog([receive('public-unknown-jurisdiction'), validate(0.5)], 60);
    const proposed = propose({ partner: { acknowledgement: { standard: '12h', urgent: '2h' }, ladder: [1, 1.5] } });
    const result = simulateSlaPolicies({
      leads: [
        { leadId: 'late', events: clockEvents(late) },
        { leadId: 'public', events: clockEvents(publicTip) },
      ],
      inForce,
      proposed,
      asOf: iso(60),
    });
    expect(result.leadsWithPartnerClock).toBe(1);
    expect(result.selfCheck).toEqual([]);
    expect(result.recorded.partnerRungs).toEqual(result.inForce.partnerRungs);
    expect(result.inForce.partnerRungs).toEqual({
      '(unassigned)': { level1: 1, level2: 0 },
      'HSI-MIAMI': { level1: 0, level2: 1 },
    });
    expect(result.proposed.partnerRungs).toEqual({ '(unassigned)': { level1: 1, level2: 1 } });
    expect(result.inForce.partnerLate).toEqual({ '(unassigned)': 1 });
    expect(policyChanges(inForce, proposed)).toEqual([
      'partner.acknowledgement.standard: 1d → 12h',
      'partner.ladder[1] (level 2, HQ): 2 → 1.5',
    ]);

    // A partner rung the log lacks (its timer had not fired by the read) is named in the self-check.
    const lagging = simulateSlaPolicies({
      leads: [{ leadId: 'lagging', events: clockEvents(liveLog([receive(), validate(0.5)], 23.9)) }],
      inForce,
      proposed: inForce,
      asOf: iso(24 + 1 / 3600),
    });
    expect(lagging.selfCheck).toEqual([
      expect.objectContaining({
        stage: 'partner',
        rung: 'level1',
        recorded: 0,
        inForce: 1,
        reason: 'due 1000 ms before the read: not recorded yet',
      }),
    ]);
  });
});

describe('simulateSlaPolicies', () => {
  it('tallies by office beside the record, and finds no difference under the policy in force', () => {
    const one = liveLog([receive(), validate(0.5)], 60);
    const two = liveLog([receive(), validate(0.5), assign(1, 'HSI-NEWARK')], 60);
    const result = simulateSlaPolicies({
      leads: [
        { leadId: 'a', events: clockEvents(one) },
        { leadId: 'b', events: clockEvents(two) },
      ],
      inForce,
      proposed: propose({ ladder: { warningAt: 0.5, levels: [1, 1.2, 1.5] } }),
      asOf: iso(60),
    });
    expect(result.recorded).toEqual(result.inForce);
    expect(result.selfCheck).toEqual([]);
    expect(result.inForce.rungs['HSI-NEWARK']).toEqual({ warning: 1, level1: 1, level2: 0, level3: 0 });
    expect(result.proposed.rungs['HSI-NEWARK']).toEqual({ warning: 1, level1: 1, level2: 1, level3: 0 });
    // Lead a is still open at the read: every rung of its ladder fell due by 60 h.
    expect(result.inForce.rungs['(unassigned)']).toEqual({ warning: 1, level1: 1, level2: 1, level3: 1 });
    expect(result.recorded.rungs['(unassigned)']).toEqual({ warning: 1, level1: 1, level2: 1, level3: 1 });
  });

  it('names a lead begun under other budgets, and a rung due just before the read, in the self-check', () => {
    const thirtyHours = propose({
      version: 'older',
      stages: { ...defaultSlaPolicyInput.stages, assignment: { standard: '30h', urgent: '2h' } },
    });
    const older = liveLog([receive(), validate(0.5)], 30, thirtyHours);
    const result = simulateSlaPolicies({
      leads: [{ leadId: 'older', events: clockEvents(older) }],
      inForce,
      proposed: inForce,
      asOf: iso(24.5 + 1 / 3600),
    });
    expect(result.leadsOnOtherBudgets).toBe(1);
    expect(result.selfCheck[0]?.reason).toMatch(/began under another policy/);

    const late = liveLog([receive(), validate(0.5)], 24.4);
    const lagging = simulateSlaPolicies({
      leads: [{ leadId: 'late', events: clockEvents(late) }],
      inForce,
      proposed: inForce,
      asOf: iso(24.5 + 1 / 3600),
    });
    expect(lagging.selfCheck).toEqual([
      expect.objectContaining({
        rung: 'level1',
        recorded: 0,
        inForce: 1,
        reason: 'due 1000 ms before the read: not recorded yet',
      }),
    ]);
  });

  it('on any schedule of commands, the replay under the policy in force equals the record (property)', () => {
    const actions = fc.array(
      fc.record({
        gapMinutes: fc.integer({ min: 1, max: 60 * 80 }),
        action: fc.constantFrom(
          'advance',
          'pause',
          'resume',
          'ack',
          'urgent',
          'standard',
          'reassign',
          'note',
          'ackPartner',
          'handAssign',
        ),
      }),
      { maxLength: 12 },
    );
    let withPartnerRungs = 0;
    fc.assert(
      fc.property(
        actions,
        fc.constantFrom('ngo-farmworkers', 'hhs-tipline-minor', 'public-unknown-jurisdiction'),
        (script, intake) => {
          const steps: Step[] = [receive(intake)];
          let hours = 0;
          let state: LeadState | undefined;
          for (const { gapMinutes, action } of script) {
            hours += gapMinutes / 60;
            state = stateAfter(steps, hours);
            if (state === undefined || isTerminal(state.status)) break;
            const step = stepFor(action, state, hours);
            if (step !== null && allowedCommands(state).includes(step[1])) steps.push(step);
          }
          const asOf = hours + 200;
          const log = liveLog(steps, asOf);
          const recorded = replay(log, 'recorded', asOf);
          const replayed = replay(log, { policy: inForce }, asOf);
          expect(rungsOf(replayed)).toEqual(rungsOf(recorded));
          expect(replayed.breaches).toEqual(recorded.breaches);
          expect(partnerRungsOf(replayed)).toEqual(partnerRungsOf(recorded));
          expect(replayed.partnerLate).toEqual(recorded.partnerLate);
          if (recorded.partnerRungs.length > 0) withPartnerRungs++;
        },
      ),
      { numRuns: 300 },
    );
    // The schedules do reach the partner ladder: partners left waiting past their budget.
    expect(withPartnerRungs).toBeGreaterThan(10);
  });
});

function stateAfter(steps: Step[], hours: number): LeadState | undefined {
  const log = liveLog(steps, hours);
  return log.reduce<LeadState | undefined>(evolve, undefined);
}

function stepFor(action: string, state: LeadState, h: number): Step | null {
  switch (action) {
    case 'advance':
      switch (state.status) {
        case 'received':
          return validate(h);
        case 'validated':
          return assign(h);
        case 'assigned':
          return [
            h,
            'RequestInterview',
            { scheduledFor: iso(h + 24), place: 'office', interpreterLanguage: 'es', victimSpecialist: true },
          ];
        case 'interview_requested':
          return [h, 'CompleteInterview', { outcome: 'victim_identified' }];
        case 'interview_completed':
          return [h, 'CloseLead', { reason: 'victim_declined' }];
        default:
          return null;
      }
    case 'pause':
      return state.sla.paused ? null : [h, 'PauseSla', { justification: 'care' }];
    case 'resume':
      return state.sla.paused ? [h, 'ResumeSla', {}] : null;
    case 'ack':
      return state.sla.level > 0 ? [h, 'AcknowledgeEscalation', {}] : null;
    case 'urgent':
    case 'standard':
      return state.priority === action ? null : [h, 'ChangePriority', { priority: action, reason: 'review' }];
    case 'ackPartner':
      return partnerAcknowledgementOwed(state) ? [h, 'AcknowledgePartner', {}] : null;
    case 'handAssign':
      return state.status === 'validated' ? [h, 'AssignLead', { office: 'HSI-MIAMI', routed: false }] : null;
    case 'reassign':
      return state.office === null || state.office === 'HSI-NEWARK'
        ? null
        : [h, 'ReassignLead', { office: 'HSI-NEWARK', reason: 'move' }];
    default:
      return [h, 'AddNote', { text: 'note' }];
  }
}
