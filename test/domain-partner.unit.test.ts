/**
 * The partner loop (issue 17) as Given / When / Then over decide and evolve: the acknowledgement owed from intake,
 * the ways it is given, its ladder when late, and the milestones the partner may know.
 */
import { describe, expect, it } from 'vitest';
import { allowedCommands, decide, evolve, timelineEntry } from '../domain';
import { nextWakeAt } from '../domain/sla';
import type { LeadCommand } from '../schemas/commands';
import type { LeadEvent } from '../schemas/events';
import { LeadIntake, type LeadIntakeInput } from '../schemas/intake';
import { LeadState } from '../schemas/lead';
import { defaultSlaPolicy, SlaPolicy, defaultSlaPolicyInput } from '../schemas/sla-policy';
import { sampleIntakeInputs } from './support/lead-fixtures';

const policy = defaultSlaPolicy();
const LEAD = '6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01';
const T0 = Date.parse('2026-11-02T09:00:00.000Z');
const H = 3_600_000;
let ids = 0;
const at = (hours: number) => new Date(T0 + hours * H).toISOString();
const cmd = <T extends LeadCommand['type']>(type: T, data: Extract<LeadCommand, { type: T }>['data'], hours = 0) =>
  ({ type, data, metadata: { actor: 'supervisor:kim', at: at(hours), commandId: `cmd-${++ids}` } }) as LeadCommand;

function given(...commands: LeadCommand[]) {
  let state: LeadState | undefined;
  const history: LeadEvent[] = [];
  for (const c of commands) {
    const d = decide(c, state, policy);
    if (!d.ok) throw new Error(`given step refused: ${d.error.message}`);
    for (const e of d.events) {
      history.push(e);
      state = evolve(state, e);
    }
  }
  return {
    state,
    history,
    when(command: LeadCommand) {
      const decision = decide(command, state, policy);
      return {
        thenEvents(...types: LeadEvent['type'][]) {
          if (!decision.ok) throw new Error(`expected events, got refusal: ${decision.error.message}`);
          expect(decision.events.map((e) => e.type)).toEqual(types);
          let after = state;
          for (const e of decision.events) after = evolve(after, e);
          return { events: decision.events, state: after };
        },
        thenRefused(pattern: RegExp) {
          expect(decision.ok).toBe(false);
          if (!decision.ok) expect(decision.error.message).toMatch(pattern);
        },
      };
    },
  };
}

const intake = (name: string, change: Partial<LeadIntakeInput> = {}) =>
  LeadIntake.parse({ ...sampleIntakeInputs()[name], ...change });
/** The NGO farmworkers' lead: standard, its partner reachable by email, no directory id. */
const receive = (change: Partial<LeadIntakeInput> = {}, name = 'ngo-farmworkers') =>
  cmd('ReceiveLead', { leadId: LEAD, intake: intake(name, change) }, 0);
const validate = (h = 0.5) => cmd('ValidateLead', { outcome: 'valid', fingerprint: 'fp-1' }, h);
const routed = (h = 1) => cmd('AssignLead', { office: 'HSI-GULFCOAST', routed: true }, h);
const placedByHand = (h = 1) => cmd('AssignLead', { office: 'HSI-GULFCOAST', routed: false }, h);
const requestInterview = (h = 2) =>
  cmd(
    'RequestInterview',
    { scheduledFor: at(48), place: 'field office', interpreterLanguage: 'es', victimSpecialist: true },
    h,
  );

describe('the partner is owed an acknowledgement from intake', () => {
  it('a partner’s lead starts the partner clock with the policy’s budget: 24 h standard', () => {
    const { events, state } = given().when(receive()).thenEvents('LeadReceived');
    const received = events[0];
    expect(received?.type === 'LeadReceived' && received.data.partner).toEqual({
      id: null,
      acknowledgementBudgetMs: 24 * H,
    });
    expect(state?.partner).toEqual({
      id: null,
      budgetMs: 24 * H,
      dueAt: at(24),
      acknowledgedAt: null,
      acknowledgedBy: null,
      overdueLevel: 0,
      milestones: [],
    });
    LeadState.parse(state);
  });

  it('an urgent lead owes it within 2 h, and the directory id the intake names is kept', () => {
    const { state } = given().when(receive({}, 'hhs-tipline-minor')).thenEvents('LeadReceived');
    expect(state?.partner?.dueAt).toBe(at(2));
    const named = given()
      .when(receive({ partner: { organisation: 'Safe Harbor', name: 'Intake desk', id: 'NGO-SAFE-HARBOR' } }))
      .thenEvents('LeadReceived');
    expect(named.state?.partner?.id).toBe('NGO-SAFE-HARBOR');
  });

  it('the budget follows the policy file and its time scale', () => {
    const custom = SlaPolicy.parse({
      ...defaultSlaPolicyInput,
      partner: { acknowledgement: { standard: '12h', urgent: '1h' }, ladder: [1, 3] },
      timeScale: 3600,
    });
    const decision = decide(receive(), undefined, custom);
    expect(decision.ok && decision.events[0]?.type === 'LeadReceived' && decision.events[0].data.partner).toEqual({
      id: null,
      acknowledgementBudgetMs: 12_000,
    });
  });

  it('a policy file without a partner section takes 24 h / 2 h and the ladder at 100 and 200 %', () => {
    const parsed = SlaPolicy.parse({ ...defaultSlaPolicyInput, partner: undefined });
    expect(parsed.partner).toEqual({ acknowledgement: { standard: 24 * H, urgent: 2 * H }, ladder: [1, 2] });
    expect(() => SlaPolicy.parse({ ...defaultSlaPolicyInput, partner: { ...parsed.partner, ladder: [2, 1] } })).toThrow(
      /partner ladder fractions must rise/,
    );
    expect(() =>
      SlaPolicy.parse({
        ...defaultSlaPolicyInput,
        partner: { acknowledgement: { standard: '1h', urgent: '2h' }, ladder: [1, 2] },
      }),
    ).toThrow(/urgent budget must not be longer/);
  });

  it('a public tip owes no partner loop: a member of the public is not a partner the memo asks us to answer', () => {
    const { state } = given().when(receive({}, 'public-unknown-jurisdiction')).thenEvents('LeadReceived');
    expect(state?.partner).toBeUndefined();
    given(receive({}, 'public-unknown-jurisdiction'))
      .when(cmd('AcknowledgePartner', {}, 1))
      .thenRefused(/owes no partner an acknowledgement/);
  });

  it('an intake’s partner id must look like a directory id', () => {
    const bad = LeadIntake.safeParse({
      ...sampleIntakeInputs()['ngo-farmworkers'],
      partner: { organisation: 'x', name: 'y', id: 'lower case' },
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['partner', 'id']);
  });
});

describe('how the acknowledgement is given', () => {
  it('routing by the rules acknowledges the partner: the LeadAssigned event is the acknowledgement', () => {
    const { state } = given(receive(), validate()).when(routed(1)).thenEvents('LeadAssigned');
    expect(state?.partner).toMatchObject({ acknowledgedAt: at(1), acknowledgedBy: 'routing' });
    expect(allowedCommands(state)).not.toContain('AcknowledgePartner');
  });

  it('a lead placed by hand is not yet acknowledged: a supervisor’s AcknowledgePartner is', () => {
    const scenario = given(receive(), validate(), placedByHand(1));
    expect(scenario.state?.partner?.acknowledgedAt).toBeNull();
    expect(allowedCommands(scenario.state)).toContain('AcknowledgePartner');
    const { events, state } = scenario.when(cmd('AcknowledgePartner', {}, 3)).thenEvents('PartnerAcknowledged');
    expect(events[0]?.data).toEqual({ dueAt: at(24) });
    expect(state?.partner).toMatchObject({ acknowledgedAt: at(3), acknowledgedBy: 'command' });
  });

  it('AcknowledgePartner before routing comes first, and routing later changes nothing', () => {
    const { state } = given(receive(), cmd('AcknowledgePartner', {}, 0.2), validate())
      .when(routed(1))
      .thenEvents('LeadAssigned');
    expect(state?.partner).toMatchObject({ acknowledgedAt: at(0.2), acknowledgedBy: 'command' });
  });

  it('is given once: a second AcknowledgePartner is refused, naming the status and how it was given', () => {
    given(receive(), validate(), routed())
      .when(cmd('AcknowledgePartner', {}, 2))
      .thenRefused(/not allowed while the lead is assigned: its partner was already acknowledged \(routing\)/);
  });

  it('a first milestone acknowledges the partner too: the office evidently answers for the lead', () => {
    const { state } = given(receive(), validate(), placedByHand())
      .when(requestInterview(5))
      .thenEvents('InterviewRequested');
    expect(state?.partner).toMatchObject({ acknowledgedAt: at(5), acknowledgedBy: 'milestone' });
  });

  it('is not taken once the lead is finished', () => {
    given(receive(), cmd('CloseLead', { reason: 'other' }, 1))
      .when(cmd('AcknowledgePartner', {}, 2))
      .thenRefused(/not allowed while the lead is closed/);
  });
});

describe('a late acknowledgement climbs its own ladder', () => {
  const waiting = () => given(receive(), validate(), placedByHand());

  it('wakes the lead at the acknowledgement deadline when nothing earlier is due', () => {
    const { state } = given(receive(), validate(), placedByHand(), cmd('PauseSla', { justification: 'j' }, 2));
    // The stage clock is paused; the partner's clock is not.
    expect(state && nextWakeAt(state, policy)).toBe(at(24));
  });

  it('at 100 % the office supervisor is told (rung 1), at 200 % HQ (rung 2), each once', () => {
    // Assigned at 1 h: the stage's own ladder (48 h) warns at 37 h and escalates from 49 h, apart from the partner's.
    const first = waiting()
      .when(cmd('CheckSla', {}, 24))
      .thenEvents('PartnerAcknowledgementOverdue');
    expect(first.events[0]?.data).toEqual({ level: 1, dueAt: at(24) });
    expect(first.state?.partner?.overdueLevel).toBe(1);
    const scenario = given(receive(), validate(), placedByHand(), cmd('CheckSla', {}, 24));
    scenario.when(cmd('CheckSla', {}, 30)).thenEvents();
    const second = scenario.when(cmd('CheckSla', {}, 48)).thenEvents('SlaWarning', 'PartnerAcknowledgementOverdue');
    expect(second.events[1]?.data).toEqual({ level: 2, dueAt: at(24) });
    const after = given(receive(), validate(), placedByHand(), cmd('CheckSla', {}, 48));
    expect(after.history.filter((e) => e.type === 'PartnerAcknowledgementOverdue')).toHaveLength(2);
    // Nothing more on the partner's ladder, however long it waits.
    after.when(cmd('CheckSla', {}, 500)).thenEvents('LeadEscalated', 'LeadEscalated', 'LeadEscalated');
  });

  it('a check long overdue records both rungs at once, in order', () => {
    const { events } = waiting()
      .when(cmd('CheckSla', {}, 60))
      .thenEvents('SlaWarning', 'LeadEscalated', 'PartnerAcknowledgementOverdue', 'PartnerAcknowledgementOverdue');
    expect(events.slice(2).map((e) => e.type === 'PartnerAcknowledgementOverdue' && e.data.level)).toEqual([1, 2]);
  });

  it('an acknowledgement stops the ladder, even a late one', () => {
    const acknowledged = given(
      receive(),
      validate(),
      placedByHand(),
      cmd('CheckSla', {}, 24),
      cmd('AcknowledgePartner', {}, 25),
    );
    expect(acknowledged.state?.partner).toMatchObject({ overdueLevel: 1, acknowledgedBy: 'command' });
    acknowledged.when(cmd('CheckSla', {}, 60)).thenEvents('SlaWarning', 'LeadEscalated');
  });

  it('a finished lead owes nothing more', () => {
    const closed = given(receive(), cmd('CloseLead', { reason: 'unable_to_locate' }, 1));
    expect(closed.state && nextWakeAt(closed.state, policy)).toBeNull();
  });
});

describe('milestones the partner may know', () => {
  it('interview scheduled, interview held and case opened, each with its time and nothing else', () => {
    const { state } = given(
      receive(),
      validate(),
      routed(),
      requestInterview(2),
      cmd('RescheduleInterview', { scheduledFor: at(50), reason: 'interpreter' }, 3),
      cmd('CompleteInterview', { outcome: 'victim_identified' }, 4),
    )
      .when(cmd('OpenCase', { caseNumber: 'HSI-GC-2026-0001' }, 5))
      .thenEvents('CaseOpened');
    // A reschedule is no milestone: the partner hears of the interview once, when it is scheduled.
    expect(state?.partner?.milestones).toEqual([
      { milestone: 'interview_scheduled', at: at(2), category: null },
      { milestone: 'interview_held', at: at(4), category: null },
      { milestone: 'case_opened', at: at(5), category: null },
    ]);
    // No case number, place, outcome or agent in what the partner's clock keeps.
    expect(JSON.stringify(state?.partner)).not.toMatch(/HSI-GC|field office|victim_identified|kim/);
  });

  it('a closed lead is told by its category only (the close reason), never its note', () => {
    const { state } = given(receive(), validate(), routed())
      .when(cmd('CloseLead', { reason: 'referred_to_other_agency', note: 'DOL case 17, agent Ruiz' }, 3))
      .thenEvents('LeadClosed');
    expect(state?.partner?.milestones).toEqual([
      { milestone: 'lead_closed', at: at(3), category: 'referred_to_other_agency' },
    ]);
    expect(JSON.stringify(state?.partner)).not.toMatch(/DOL|Ruiz/);
  });

  it('a lead rejected at validation is closed for its partner too, as invalid or duplicate', () => {
    const { state } = given(receive())
      .when(cmd('ValidateLead', { outcome: 'invalid', fingerprint: 'f', problems: ['no contact'] }, 0.5))
      .thenEvents('LeadRejected');
    expect(state?.partner).toMatchObject({
      acknowledgedBy: 'milestone',
      milestones: [{ milestone: 'lead_closed', at: at(0.5), category: 'invalid' }],
    });
  });

  it('the timeline shows the partner events as they are: times and rungs only', () => {
    const scenario = given(receive(), validate(), placedByHand(), cmd('CheckSla', {}, 24));
    const overdue = scenario.history.find((e) => e.type === 'PartnerAcknowledgementOverdue');
    if (overdue === undefined) throw new Error('no rung');
    expect(timelineEntry(7, overdue).detail).toEqual({ level: 1, dueAt: at(24) });
  });
});
