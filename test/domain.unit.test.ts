import { describe, expect, it } from 'vitest';
import { allowedCommands, decide, evolve, nextSlaAction, stageDeadline, timelineEntry } from '../domain';
import { nextWakeAt } from '../domain/sla';
import { commandDigest, eventCommandDigest } from '../domain/command-digest';
import { commandData, type LeadCommand, type CommandType } from '../schemas/commands';
import { eventTypes, type LeadEvent } from '../schemas/events';
import { LeadState, leadStatuses, type LeadStatus } from '../schemas/lead';
import { defaultSlaPolicy, SlaPolicy } from '../schemas/sla-policy';
import type { LeadIntake } from '../schemas/intake';
import { sampleIntake } from './support/lead-fixtures';

const policy = defaultSlaPolicy();
const LEAD = '6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01';
const T0 = Date.parse('2026-11-02T09:00:00.000Z');
const H = 3_600_000;
let ids = 0;
const meta = (hours: number, actor = 'supervisor:kim') => ({
  actor,
  at: new Date(T0 + hours * H).toISOString(),
  commandId: `cmd-${++ids}`,
});
const cmd = <T extends LeadCommand['type']>(type: T, data: Extract<LeadCommand, { type: T }>['data'], hours = 0) =>
  ({ type, data, metadata: meta(hours) }) as LeadCommand;

/** Given these events, when this command, then these events (or this refusal). */
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
        thenEvents: (...types: LeadEvent['type'][]) => {
          if (!decision.ok) throw new Error(`expected events, got refusal: ${decision.error.message}`);
          expect(decision.events.map((e) => e.type)).toEqual(types);
          return decision.events;
        },
        thenRefused: (pattern: RegExp) => {
          expect(decision.ok).toBe(false);
          if (!decision.ok) expect(decision.error.message).toMatch(pattern);
        },
      };
    },
  };
}

const receive = (name = 'ngo-farmworkers', hours = 0) =>
  cmd('ReceiveLead', { leadId: LEAD, intake: sampleIntake(name) }, hours);
const validate = (h = 0.5) => cmd('ValidateLead', { outcome: 'valid', fingerprint: 'fp-1' }, h);
const assign = (h = 1) => cmd('AssignLead', { office: 'HSI-MIAMI', routed: true }, h);
const requestInterview = (h = 2) =>
  cmd(
    'RequestInterview',
    // The farmworkers need an interpreter (the intake says so): the contact-safety rules want one named.
    {
      scheduledFor: '2026-11-04T15:00:00.000Z',
      place: 'field office',
      interpreterLanguage: 'es',
      victimSpecialist: true,
    },
    h,
  );
const later = (hours: number) => new Date(T0 + hours * H).toISOString();
/** A supervisor pauses the clock for victim care at `h`, expecting it to end at `endHours`. */
const stabilise = (category: 'medical' | 'shelter' | 'legal' | 'counselling', h: number, endHours: number) =>
  cmd('PauseForStabilisation', { category, expectedEnd: later(endHours) }, h);
const completeInterview = (h = 3) => cmd('CompleteInterview', { outcome: 'victim_identified' }, h);

/** A sequence of commands that leaves the lead in each status. */
const toStatus: Record<LeadStatus, () => LeadCommand[]> = {
  received: () => [receive()],
  validated: () => [receive(), validate()],
  assigned: () => [receive(), validate(), assign()],
  interview_requested: () => [receive(), validate(), assign(), requestInterview()],
  interview_completed: () => [receive(), validate(), assign(), requestInterview(), completeInterview()],
  case_opened: () => [...toStatus.interview_completed(), cmd('OpenCase', { caseNumber: 'HSI-MIA-2026-0001' }, 4)],
  closed: () => [receive(), cmd('CloseLead', { reason: 'referred_to_other_agency' }, 1)],
};

describe('intake', () => {
  it('records LeadReceived with the urgency the intake flags', () => {
    const [event] = given().when(receive('hhs-tipline-minor')).thenEvents('LeadReceived');
    expect(event?.type === 'LeadReceived' && event.data.priority).toBe('urgent');
    expect(event?.type === 'LeadReceived' && event.data.slaBudgetMs).toBe(1 * H);
  });
  it('a standard lead gets the 4 h validation clock', () => {
    const { state } = given(receive());
    expect(state?.priority).toBe('standard');
    expect(state && stageDeadline(state.sla)).toBe(new Date(T0 + 4 * H).toISOString());
  });
  it('refuses a second intake for the same lead', () => {
    given(receive())
      .when(receive())
      .thenRefused(/already been received/);
  });
  it('refuses any command before the intake', () => {
    given()
      .when(validate())
      .thenRefused(/not allowed before the lead is received/);
  });
});

describe('the happy path', () => {
  it('validates, assigns, requests and completes an interview, and opens a case', () => {
    given(receive()).when(validate()).thenEvents('LeadValidated');
    given(receive(), validate()).when(assign()).thenEvents('LeadAssigned');
    given(receive(), validate(), assign()).when(requestInterview()).thenEvents('InterviewRequested');
    given(...toStatus.assigned(), requestInterview())
      .when(completeInterview())
      .thenEvents('InterviewCompleted');
    given(...toStatus.interview_completed())
      .when(cmd('OpenCase', { caseNumber: 'HSI-MIA-2026-0001' }, 5))
      .thenEvents('CaseOpened');
    const { state } = given(...toStatus.case_opened());
    expect(state?.status).toBe('case_opened');
    expect(state?.caseNumber).toBe('HSI-MIA-2026-0001');
    expect(state?.sla.stage).toBeNull();
    expect(state?.version).toBe(6);
  });
  it('each stage starts its own clock from the budget in the policy', () => {
    const { state } = given(...toStatus.assigned());
    expect(state?.sla.stage).toBe('interview_request');
    expect(state && stageDeadline(state.sla)).toBe(new Date(T0 + 1 * H + 48 * H).toISOString());
  });
});

describe('validation outcomes', () => {
  it('an invalid lead is rejected and closed as invalid', () => {
    given(receive())
      .when(cmd('ValidateLead', { outcome: 'invalid', fingerprint: 'f', problems: ['no contact'] }))
      .thenEvents('LeadRejected');
    const { state } = given(receive(), cmd('ValidateLead', { outcome: 'invalid', fingerprint: 'f', problems: ['x'] }));
    expect(state?.status).toBe('closed');
    expect(state?.closedReason).toBe('invalid');
  });
  it('a duplicate is closed and links the original', () => {
    const original = '0d5a7a4e-7d44-4b41-8a0b-1f6f9b1a2c3d';
    const { state } = given(
      receive(),
      cmd('ValidateLead', { outcome: 'duplicate', fingerprint: 'f', duplicateOf: original }),
    );
    expect(state?.closedReason).toBe('duplicate');
    expect(state?.duplicateOf).toBe(original);
  });
});

describe('supervisor commands', () => {
  it('reassigns to another office, but not to the same one', () => {
    given(...toStatus.assigned())
      .when(cmd('ReassignLead', { office: 'HSI-NEWARK', reason: 'victims moved' }, 2))
      .thenEvents('LeadReassigned');
    given(...toStatus.assigned())
      .when(cmd('ReassignLead', { office: 'HSI-MIAMI', reason: 'x' }, 2))
      .thenRefused(/already assigned/);
  });
  it('reschedules an interview without restarting its clock', () => {
    const scenario = given(
      ...toStatus.interview_requested(),
      cmd('RescheduleInterview', { scheduledFor: '2026-11-05T10:00:00.000Z', reason: 'interpreter' }, 5),
    );
    expect(scenario.history.at(-1)?.type).toBe('InterviewRescheduled');
    expect(scenario.state?.interview?.scheduledFor).toBe('2026-11-05T10:00:00.000Z');
    expect(scenario.state && stageDeadline(scenario.state.sla)).toBe(new Date(T0 + 2 * H + 72 * H).toISOString());
  });
  it('closes a lead from any open status', () => {
    for (const status of ['received', 'validated', 'assigned', 'interview_requested', 'interview_completed'] as const) {
      given(...toStatus[status]())
        .when(cmd('CloseLead', { reason: 'other', note: 'n' }, 9))
        .thenEvents('LeadClosed');
    }
  });
  it('changes priority and recomputes the deadline, keeping time used', () => {
    const { state } = given(
      ...toStatus.validated(),
      cmd('ChangePriority', { priority: 'urgent', reason: 'minor identified' }, 1.5),
    );
    expect(state?.priority).toBe('urgent');
    expect(state && stageDeadline(state.sla)).toBe(new Date(T0 + 0.5 * H + 2 * H).toISOString());
    given(...toStatus.validated())
      .when(cmd('ChangePriority', { priority: 'standard', reason: 'same' }))
      .thenRefused(/already standard/);
  });
  it('adds notes without changing the status', () => {
    const { state } = given(...toStatus.assigned(), cmd('AddNote', { text: 'called the partner back' }, 2));
    expect(state?.status).toBe('assigned');
    expect(state?.noteCount).toBe(1);
  });
  it('records a command id once', () => {
    const note = cmd('AddNote', { text: 'once' }, 2);
    given(...toStatus.assigned(), note)
      .when(note)
      .thenEvents();
  });
});

describe('SLA clock', () => {
  it('pausing stops the clock and resuming keeps the time used', () => {
    const paused = given(...toStatus.validated(), cmd('PauseSla', { justification: 'victim stabilisation' }, 10.5));
    expect(paused.state?.sla.usedMs).toBe(10 * H);
    expect(paused.state && stageDeadline(paused.state.sla)).toBeNull();
    expect(paused.state && nextSlaAction(paused.state, policy)).toBeNull();
    given(...toStatus.validated(), cmd('PauseSla', { justification: 'x' }, 1))
      .when(cmd('PauseSla', { justification: 'again' }, 2))
      .thenRefused(/PauseSla is not allowed/);
    given(...toStatus.validated())
      .when(cmd('ResumeSla', {}, 2))
      .thenRefused(/ResumeSla is not allowed/);
    const resumed = given(
      ...toStatus.validated(),
      cmd('PauseSla', { justification: 'x' }, 10.5),
      cmd('ResumeSla', {}, 20.5),
    );
    // 24 h budget, 10 h used before the pause, resumed at 20.5 h: 14 h left.
    expect(resumed.state && stageDeadline(resumed.state.sla)).toBe(new Date(T0 + 34.5 * H).toISOString());
  });
  it('climbs the ladder: warning at 75 %, levels at 100, 150 and 200 %', () => {
    const { state } = given(...toStatus.validated());
    expect(state && nextSlaAction(state, policy)).toEqual({
      kind: 'warning',
      at: new Date(T0 + 0.5 * H + 18 * H).toISOString(),
    });
    // The lead is unrouted, so its partner still waits too: the partner ladder's first rung (24 h) is due as well.
    const fired = given(...toStatus.validated())
      .when(cmd('CheckSla', {}, 0.5 + 36))
      .thenEvents('SlaWarning', 'LeadEscalated', 'LeadEscalated', 'PartnerAcknowledgementOverdue');
    expect(fired.map((e) => (e.type === 'LeadEscalated' ? e.data.level : 0))).toEqual([0, 1, 2, 0]);
  });
  it('a check before anything is due records nothing', () => {
    given(...toStatus.validated())
      .when(cmd('CheckSla', {}, 1))
      .thenEvents();
  });
  it('an acknowledgement holds the ladder for the re-escalation interval', () => {
    const escalated = given(...toStatus.validated(), cmd('CheckSla', {}, 24.5));
    expect(escalated.state?.sla.level).toBe(1);
    const acked = given(...toStatus.validated(), cmd('CheckSla', {}, 24.5), cmd('AcknowledgeEscalation', {}, 35));
    // Level 2 would fall at 36.5 h; the hold runs to 35 + 4 = 39 h.
    expect(acked.state && nextSlaAction(acked.state, policy)).toEqual({
      kind: 'escalation',
      level: 2,
      at: new Date(T0 + 39 * H).toISOString(),
    });
    given(...toStatus.validated())
      .when(cmd('AcknowledgeEscalation', {}, 1))
      .thenRefused(/AcknowledgeEscalation is not allowed/);
  });
});

describe('every command the state does not allow is refused, naming the status and what is allowed', () => {
  const samples: Record<Exclude<CommandType, 'ReceiveLead'>, LeadCommand> = {
    ValidateLead: validate(9),
    AssignLead: assign(9),
    ReassignLead: cmd('ReassignLead', { office: 'HSI-HOUSTON', reason: 'r' }, 9),
    RequestInterview: requestInterview(9),
    RescheduleInterview: cmd('RescheduleInterview', { scheduledFor: '2026-11-06T10:00:00.000Z', reason: 'r' }, 9),
    CompleteInterview: completeInterview(9),
    OpenCase: cmd('OpenCase', { caseNumber: 'HSI-MIA-2026-0002' }, 9),
    CloseLead: cmd('CloseLead', { reason: 'other' }, 9),
    PauseSla: cmd('PauseSla', { justification: 'j' }, 9),
    ResumeSla: cmd('ResumeSla', {}, 9),
    AcknowledgeEscalation: cmd('AcknowledgeEscalation', {}, 9),
    ChangePriority: cmd('ChangePriority', { priority: 'urgent', reason: 'r' }, 9),
    AddNote: cmd('AddNote', { text: 't' }, 9),
    RecordSafety: cmd('RecordSafety', { safeToContact: 'yes' }, 9),
    PauseForStabilisation: cmd(
      'PauseForStabilisation',
      { category: 'medical', expectedEnd: '2026-11-05T09:00:00Z' },
      9,
    ),
    AcknowledgePartner: cmd('AcknowledgePartner', {}, 9),
    CheckSla: cmd('CheckSla', {}, 9),
  };
  for (const status of leadStatuses) {
    it(`while ${status}`, () => {
      const scenario = given(...toStatus[status]());
      const allowed = allowedCommands(scenario.state);
      for (const [type, command] of Object.entries(samples)) {
        if (type === 'CheckSla') continue;
        const fresh = { ...command, metadata: { ...command.metadata, commandId: `probe-${type}-${status}` } };
        const decision = decide(fresh, scenario.state, policy);
        if (allowed.includes(type as CommandType)) continue;
        expect(decision.ok, `${type} while ${status}`).toBe(false);
        if (!decision.ok) {
          expect(decision.error.message).toContain(`while the lead is ${status}`);
          expect(decision.error.status).toBe(status);
          expect(decision.error.allowed).toEqual(allowed);
        }
      }
      LeadState.parse(scenario.state);
    });
  }
});

describe('a command id names one request', () => {
  const withId = (command: LeadCommand, commandId: string, hours = 6): LeadCommand => ({
    ...command,
    metadata: { ...command.metadata, commandId, at: new Date(T0 + hours * H).toISOString() },
  });
  const note = (text: string) => cmd('AddNote', { text }, 5);

  it('the same command with the same data under the same id is recorded once', () => {
    given(...toStatus.assigned(), withId(note('called the partner'), 'X', 5))
      .when(withId(note('called the partner'), 'X'))
      .thenEvents();
  });
  it('the id of a note reused for a priority change is refused, and nothing is recorded', () => {
    const { state } = given(...toStatus.assigned(), withId(note('called the partner'), 'X', 5));
    const decision = decide(
      withId(cmd('ChangePriority', { priority: 'urgent', reason: 'new information' }), 'X'),
      state,
      policy,
    );
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.error.code).toBe('command_id_reused');
    expect(decision.error.message).toMatch(/commandId was already used on this lead/);
    expect(decision.error.status).toBe('assigned');
    // Neither the id nor the earlier data is quoted.
    expect(decision.error.message).not.toMatch(/X|partner/);
  });
  it('the same id with other data is refused', () => {
    given(...toStatus.assigned(), withId(note('called the partner'), 'X', 5))
      .when(withId(note('called the partner twice'), 'X'))
      .thenRefused(/commandId was already used/);
  });
  it("the submission's id reused for a command is refused", () => {
    const history = toStatus.assigned();
    const submissionId = history[0]?.metadata.commandId ?? '';
    given(...history)
      .when(withId(note('a note'), submissionId))
      .thenRefused(/commandId was already used/);
  });
  it('a retry is still recorded once after other commands came between', () => {
    given(...toStatus.assigned(), withId(note('first'), 'X', 5), withId(note('second'), 'Y', 5.5))
      .when(withId(note('first'), 'X'))
      .thenEvents();
  });
  it('an id carried from a run that kept no digests is taken as a retry, as before', () => {
    const { state } = given(...toStatus.assigned(), withId(note('called the partner'), 'X', 5));
    if (state === undefined) throw new Error('no state');
    const { recentCommandDigests: _dropped, ...older } = state;
    const decision = decide(withId(cmd('ChangePriority', { priority: 'urgent', reason: 'r' }), 'X'), older, policy);
    expect(decision).toEqual({ ok: true, events: [] });
    // Evolving it further keeps both lists aligned, the old ids unknown.
    const next = evolve(older, {
      type: 'NoteAdded',
      data: { text: 'n' },
      metadata: { actor: 'a', at: new Date(T0 + 7 * H).toISOString(), commandId: 'Z' },
    });
    expect(next.recentCommandDigests?.length).toBe(next.recentCommandIds.length);
    expect(next.recentCommandDigests?.slice(0, -1).every((d) => d === '')).toBe(true);
    expect(LeadState.parse(older)).toEqual(older);
  });
  it('the state keeps a short digest of each request, never its text', () => {
    const { state } = given(...toStatus.assigned(), withId(note('Maria Lopez was seen at the motel'), 'X', 5));
    expect(state?.recentCommandDigests).toHaveLength(state?.recentCommandIds.length ?? -1);
    expect(state?.recentCommandDigests?.every((d) => /^[0-9a-f]{8}$/.test(d))).toBe(true);
    expect(JSON.stringify(state)).not.toMatch(/Maria|motel/);
  });
  it('the digest read back from the events equals the digest of the command that caused them', () => {
    const original = '0d5a7a4e-7d44-4b41-8a0b-1f6f9b1a2c3d';
    const cases: [LeadCommand[], LeadCommand][] = [
      [[], receive()],
      [[receive()], validate()],
      [[receive()], cmd('ValidateLead', { outcome: 'invalid', fingerprint: 'f', problems: ['no contact', 'x'] })],
      [[receive()], cmd('ValidateLead', { outcome: 'duplicate', fingerprint: 'f', duplicateOf: original })],
      [toStatus.validated(), assign()],
      [toStatus.validated(), cmd('AssignLead', { office: 'HSI-MIAMI', agent: 'agent:lee', routed: false })],
      [toStatus.assigned(), cmd('ReassignLead', { office: 'HSI-NEWARK', reason: 'closer' })],
      [toStatus.assigned(), cmd('ReassignLead', { office: 'HSI-MIAMI', agent: 'agent:lee', reason: 'r' })],
      [toStatus.assigned(), requestInterview()],
      [
        toStatus.assigned(),
        cmd('RequestInterview', {
          scheduledFor: '2026-11-04T15:00:00.000Z',
          place: 'shelter',
          interpreterLanguage: 'es',
          victimSpecialist: false,
        }),
      ],
      [
        toStatus.interview_requested(),
        cmd('RescheduleInterview', { scheduledFor: '2026-11-05T15:00:00.000Z', reason: 'r' }),
      ],
      [
        toStatus.interview_requested(),
        cmd('RescheduleInterview', { scheduledFor: '2026-11-05T15:00:00.000Z', place: 'p', reason: 'r' }),
      ],
      [toStatus.interview_requested(), completeInterview()],
      [toStatus.interview_completed(), cmd('OpenCase', { caseNumber: 'HSI-MIA-2026-0001' }, 4)],
      [toStatus.assigned(), cmd('CloseLead', { reason: 'other' })],
      [toStatus.assigned(), cmd('CloseLead', { reason: 'other', note: 'n' })],
      [toStatus.assigned(), cmd('PauseSla', { justification: 'j' }, 2)],
      [[...toStatus.assigned(), cmd('PauseSla', { justification: 'j' }, 2)], cmd('ResumeSla', {}, 3)],
      [toStatus.assigned(), cmd('ChangePriority', { priority: 'urgent', reason: 'r' }, 2)],
      [toStatus.assigned(), note('n')],
      [toStatus.assigned(), cmd('RecordSafety', { safeToContact: 'no', contactThrough: 'NGO caseworker' }, 2)],
      [toStatus.assigned(), cmd('RecordSafety', { immediateDanger: true }, 2)],
      [toStatus.assigned(), stabilise('shelter', 2, 50)],
      [
        toStatus.assigned(),
        cmd('PauseForStabilisation', { category: 'legal', expectedEnd: later(50), justification: 'j' }),
      ],
      [[...toStatus.assigned(), stabilise('medical', 2, 50)], cmd('CheckSla', {}, 60)],
      [toStatus.received(), cmd('CheckSla', {}, 100)],
      [[...toStatus.received(), cmd('CheckSla', {}, 100)], cmd('AcknowledgeEscalation', {}, 101)],
      [[...toStatus.received(), cmd('CheckSla', {}, 100)], cmd('AcknowledgeEscalation', { note: 'n' }, 101)],
      [toStatus.validated(), cmd('AcknowledgePartner', {}, 2)],
    ];
    const covered = new Set<string>();
    for (const [history, command] of cases) {
      const scenario = given(...history);
      const decision = decide(command, scenario.state, policy);
      if (!decision.ok) throw new Error(`${command.type} refused: ${decision.error.message}`);
      expect(decision.events.length, command.type).toBeGreaterThan(0);
      for (const event of decision.events) {
        covered.add(event.type);
        expect(eventCommandDigest(event), `${command.type} -> ${event.type}`).toBe(commandDigest(command));
      }
    }
    expect([...covered].sort()).toEqual([...eventTypes].sort());
  });
});

/** A lead whose intake carries what is known of contact safety (optional: older intakes have none). */
const receiveWith = (name: string, safety: LeadIntake['safety'], hours = 0) =>
  cmd('ReceiveLead', { leadId: LEAD, intake: { ...sampleIntake(name), safety } }, hours);
const interview = (data: { interpreterLanguage?: string; victimSpecialist: boolean }, h = 2) =>
  cmd('RequestInterview', { scheduledFor: '2026-11-04T15:00:00.000Z', place: 'field office', ...data }, h);
const refusal = (decision: ReturnType<typeof decide>) => {
  if (decision.ok) throw new Error('expected a refusal');
  return decision.error;
};

describe('safety and consent to contact', () => {
  it('an intake without a safety record is valid and knows only what its flags and victims say', () => {
    const { state } = given(receive('ngo-farmworkers'));
    expect(state?.safety).toEqual({
      safeToContact: 'unknown',
      consentToContact: 'unknown',
      minor: false,
      needsInterpreter: true,
      immediateDanger: false,
    });
    expect(given(receive('hhs-tipline-minor')).state?.safety).toMatchObject({ minor: true, immediateDanger: true });
  });
  it("the intake's safety record is kept in the intake, and its danger makes the lead urgent", () => {
    const [event] = given()
      .when(
        receiveWith('public-unknown-jurisdiction', {
          safeToContact: 'no',
          contactThrough: 'NGO caseworker',
          immediateDanger: true,
        }),
      )
      .thenEvents('LeadReceived');
    expect(event?.type === 'LeadReceived' && event.data.priority).toBe('urgent');
    expect(event?.type === 'LeadReceived' && event.data.intake.safety?.contactThrough).toBe('NGO caseworker');
    const { state } = given(receiveWith('public-unknown-jurisdiction', { safeToContact: 'no' }));
    expect(state?.safety?.safeToContact).toBe('no');
    expect(state?.priority).toBe('standard');
  });
  it('the state keeps the conclusions only, never the free text of a safety record', () => {
    const { state } = given(
      receiveWith('ngo-farmworkers', { contactThrough: 'Caseworker Maria Lopez', preferredLanguage: 'Mam' }),
      validate(),
      cmd('RecordSafety', { contactThrough: 'Caseworker Ana Ruiz' }, 1),
    );
    expect(JSON.stringify(state)).not.toMatch(/Maria|Ana Ruiz|Mam/);
  });
  it('RecordSafety records what is now known; what it leaves out stays as it was', () => {
    const scenario = given(...toStatus.assigned(), cmd('RecordSafety', { safeToContact: 'no' }, 2));
    expect(scenario.history.at(-1)?.type).toBe('SafetyRecorded');
    expect(scenario.state?.safety).toMatchObject({ safeToContact: 'no', needsInterpreter: true });
    const later = given(
      ...toStatus.assigned(),
      cmd('RecordSafety', { safeToContact: 'no' }, 2),
      cmd('RecordSafety', { consentToContact: 'yes', needsInterpreter: false }, 3),
    );
    expect(later.state?.safety).toMatchObject({
      safeToContact: 'no',
      consentToContact: 'yes',
      needsInterpreter: false,
    });
  });
  it('RecordSafety needs at least one field, and is refused once the lead is finished', () => {
    expect(commandData.RecordSafety.safeParse({}).success).toBe(false);
    expect(commandData.RecordSafety.safeParse({ minor: true }).success).toBe(true);
    given(...toStatus.closed())
      .when(cmd('RecordSafety', { safeToContact: 'yes' }, 9))
      .thenRefused(/RecordSafety is not allowed while the lead is closed/);
  });
  it('a lead marked in immediate danger after intake becomes urgent, its stage clock keeping the time used', () => {
    const [recorded] = given(...toStatus.validated())
      .when(cmd('RecordSafety', { immediateDanger: true }, 1.5))
      .thenEvents('SafetyRecorded');
    expect(recorded?.type === 'SafetyRecorded' && recorded.data.priority).toEqual({
      from: 'standard',
      to: 'urgent',
      slaBudgetMs: 2 * H,
    });
    const { state } = given(...toStatus.validated(), cmd('RecordSafety', { immediateDanger: true }, 1.5));
    expect(state?.priority).toBe('urgent');
    // Validated at 0.5 h, 1 h of the assignment stage used; the urgent budget is 2 h: due at 2.5 h, as ChangePriority.
    expect(state && stageDeadline(state.sla)).toBe(later(2.5));
    expect(state?.sla.usedMs).toBe(0);
    expect(state?.sla.runningSince).toBe(later(0.5));
  });
  it('a victim marked a minor after intake makes the lead urgent too; an urgent lead stays as it is', () => {
    const minor = given(...toStatus.assigned(), cmd('RecordSafety', { minor: true }, 2));
    expect(minor.state?.priority).toBe('urgent');
    const [again] = given(...toStatus.assigned(), cmd('RecordSafety', { minor: true }, 2))
      .when(cmd('RecordSafety', { immediateDanger: true }, 3))
      .thenEvents('SafetyRecorded');
    expect(again?.type === 'SafetyRecorded' && again.data.priority).toBeNull();
  });
  it('danger marked over is no reason to lower the urgency: that is ChangePriority, with a reason', () => {
    const { state } = given(
      receive('hhs-tipline-minor'),
      cmd('RecordSafety', { immediateDanger: false, minor: false }, 1),
    );
    expect(state?.priority).toBe('urgent');
    expect(state?.safety).toMatchObject({ immediateDanger: false, minor: false });
  });
  it('the timeline says a safety record exists and what urgency it raised, never what it holds', () => {
    const [event] = given(...toStatus.validated())
      .when(cmd('RecordSafety', { immediateDanger: true, contactThrough: 'Caseworker Maria' }, 1.5))
      .thenEvents('SafetyRecorded');
    if (event === undefined) throw new Error('no event');
    const entry = timelineEntry(4, event);
    expect(entry.detail).toEqual({
      safety: 'recorded',
      priority: { from: 'standard', to: 'urgent', slaBudgetMs: 2 * H },
    });
    expect(JSON.stringify(entry)).not.toMatch(/Maria|immediateDanger/);
  });
});

describe('contact-safety rules for RequestInterview', () => {
  it('refuses while contact is marked unsafe, naming the rule and what would satisfy it', () => {
    const scenario = given(...toStatus.assigned(), cmd('RecordSafety', { safeToContact: 'no' }, 2));
    const error = refusal(decide(requestInterview(3), scenario.state, policy));
    expect(error.code).toBe('safety_rule');
    expect(error.status).toBe('assigned');
    expect(error.allowed).toContain('RequestInterview');
    expect(error.rules.map((r) => r.rule)).toEqual(['contact_unsafe']);
    expect(error.message).toMatch(/contact_unsafe .*RecordSafety \{ safeToContact: "yes" \}/);
    given(
      ...toStatus.assigned(),
      cmd('RecordSafety', { safeToContact: 'no' }, 2),
      cmd('RecordSafety', { safeToContact: 'yes' }, 3),
    )
      .when(requestInterview(4))
      .thenEvents('InterviewRequested');
  });
  it('refuses while consent to contact is refused; consent not yet known does not stop it', () => {
    given(...toStatus.assigned(), cmd('RecordSafety', { consentToContact: 'no' }, 2))
      .when(requestInterview(3))
      .thenRefused(/consent_not_given .*consentToContact: "yes"/);
    given(...toStatus.assigned(), cmd('RecordSafety', { consentToContact: 'unknown', safeToContact: 'unknown' }, 2))
      .when(requestInterview(3))
      .thenEvents('InterviewRequested');
  });
  it('a minor (from the intake) is interviewed only with a victim specialist', () => {
    const minor = [receive('hhs-tipline-minor'), validate(), assign()];
    given(...minor)
      .when(interview({ victimSpecialist: false }))
      .thenRefused(/minor_needs_victim_specialist .*victimSpecialist: true/);
    given(...minor)
      .when(interview({ victimSpecialist: true }))
      .thenEvents('InterviewRequested');
  });
  it('a victim marked a minor later is held to the same rule', () => {
    given(receive('public-unknown-jurisdiction'), validate(), assign(), cmd('RecordSafety', { minor: true }, 1.5))
      .when(interview({ victimSpecialist: false }))
      .thenRefused(/minor_needs_victim_specialist/);
  });
  it('an interpreter is needed when the intake or a safety record says so', () => {
    given(...toStatus.assigned())
      .when(interview({ victimSpecialist: true }))
      .thenRefused(/interpreter_needed .*interpreterLanguage/);
    given(...toStatus.assigned())
      .when(interview({ victimSpecialist: true, interpreterLanguage: '  ' }))
      .thenRefused(/interpreter_needed/);
    given(...toStatus.assigned(), cmd('RecordSafety', { needsInterpreter: false }, 2))
      .when(interview({ victimSpecialist: false }))
      .thenEvents('InterviewRequested');
    given(
      receive('public-unknown-jurisdiction'),
      validate(),
      assign(),
      cmd('RecordSafety', { needsInterpreter: true }, 2),
    )
      .when(interview({ victimSpecialist: false }))
      .thenRefused(/interpreter_needed/);
  });
  it('names every rule broken at once, and quotes nothing of the safety record', () => {
    const { state } = given(
      receiveWith('hhs-tipline-minor', {
        safeToContact: 'no',
        consentToContact: 'no',
        contactThrough: 'Caseworker Maria',
        needsInterpreter: true,
      }),
      validate(),
      assign(),
    );
    const error = refusal(decide(interview({ victimSpecialist: false }), state, policy));
    expect(error.rules.map((r) => r.rule)).toEqual([
      'contact_unsafe',
      'consent_not_given',
      'minor_needs_victim_specialist',
      'interpreter_needed',
    ]);
    expect(error.message).not.toMatch(/Maria/);
    // Nothing was decided: the state the refusal saw is unchanged.
    expect(state?.status).toBe('assigned');
  });
  it('a state carried from a run before safety was kept has nothing for the rules to refuse on', () => {
    const { state } = given(...toStatus.assigned());
    if (state === undefined) throw new Error('no state');
    const { safety: _none, ...older } = state;
    const decision = decide(interview({ victimSpecialist: false }, 3), older, policy);
    expect(decision.ok).toBe(true);
    const marked = evolve(older, {
      type: 'SafetyRecorded',
      data: { safety: { safeToContact: 'no' }, priority: null },
      metadata: meta(4),
    });
    expect(refusal(decide(interview({ victimSpecialist: false }, 5), marked, policy)).rules.map((r) => r.rule)).toEqual(
      ['contact_unsafe'],
    );
  });
});

describe('stabilisation pause', () => {
  it('pauses the clock for victim care with a category and an expected end, keeping the time used', () => {
    const [event] = given(...toStatus.assigned())
      .when(stabilise('medical', 11, 11 + 72))
      .thenEvents('StabilisationPaused');
    expect(event?.data).toEqual({
      category: 'medical',
      expectedEnd: later(83),
      maximumEnd: later(11 + 14 * 24),
      justification: null,
      usedMs: 10 * H,
    });
    const { state } = given(...toStatus.assigned(), stabilise('medical', 11, 83));
    expect(state?.sla).toMatchObject({ paused: true, runningSince: null, usedMs: 10 * H });
    expect(state?.sla.stabilisation).toEqual({
      category: 'medical',
      expectedEnd: later(83),
      maximumEnd: later(11 + 14 * 24),
      reminded: [],
    });
    expect(state && stageDeadline(state.sla)).toBeNull();
    expect(state && nextWakeAt(state, policy)).toBe(later(83));
  });
  it('needs an expected end after the pause begins and within the policy maximum', () => {
    given(...toStatus.assigned())
      .when(stabilise('shelter', 5, 5))
      .thenRefused(/needs an expectedEnd after the pause begins/);
    given(...toStatus.assigned())
      .when(stabilise('shelter', 5, 5 + 14 * 24 + 1))
      .thenRefused(new RegExp(`may last until ${later(5 + 14 * 24).replace(/\./g, '\\.')} by the SLA policy`));
    given(...toStatus.assigned())
      .when(stabilise('shelter', 5, 5 + 14 * 24))
      .thenEvents('StabilisationPaused');
  });
  it("the policy's maximum is 14 days unless a policy file sets another", () => {
    const { stabilisation: _none, ...withoutSetting } = defaultSlaPolicy();
    expect(SlaPolicy.parse(withoutSetting).stabilisation.maximumPause).toBe(14 * 24 * H);
    expect(SlaPolicy.parse({ ...withoutSetting, stabilisation: { maximumPause: '10d' } }).stabilisation).toEqual({
      maximumPause: 10 * 24 * H,
    });
    expect(SlaPolicy.safeParse({ ...withoutSetting, stabilisation: { maximumPause: 'soon' } }).success).toBe(false);
  });
  it('takes its maximum from the policy, and 14 days from a policy that predates the setting', () => {
    const short = SlaPolicy.parse({ ...defaultSlaPolicy(), stabilisation: { maximumPause: '3d' } });
    const state = given(...toStatus.assigned()).state;
    const decision = decide(stabilise('legal', 2, 50), state, short);
    expect(
      decision.ok && decision.events[0]?.type === 'StabilisationPaused' && decision.events[0].data.maximumEnd,
    ).toBe(later(2 + 72));
    expect(refusal(decide(stabilise('legal', 2, 80), state, short)).message).toMatch(/may last until/);
    const { stabilisation: _none, ...older } = defaultSlaPolicy();
    const old = decide(stabilise('legal', 2, 50), state, older as SlaPolicy);
    expect(old.ok && old.events[0]?.type === 'StabilisationPaused' && old.events[0].data.maximumEnd).toBe(
      later(2 + 14 * 24),
    );
  });
  it('is not taken while the clock is already paused, by either kind of pause', () => {
    given(...toStatus.assigned(), cmd('PauseSla', { justification: 'j' }, 2))
      .when(stabilise('medical', 3, 30))
      .thenRefused(/PauseForStabilisation is not allowed/);
    given(...toStatus.assigned(), stabilise('medical', 2, 30))
      .when(cmd('PauseSla', { justification: 'j' }, 3))
      .thenRefused(/PauseSla is not allowed/);
  });
  it('reminds at the expected end and at the maximum, each once', () => {
    const paused = [...toStatus.assigned(), stabilise('counselling', 2, 50)];
    given(...paused)
      .when(cmd('CheckSla', {}, 49))
      .thenEvents();
    const [atEnd] = given(...paused)
      .when(cmd('CheckSla', {}, 50))
      .thenEvents('StabilisationReminded');
    expect(atEnd?.data).toEqual({ reminder: 'expected_end', due: later(50), pausedAt: later(2) });
    const reminded = [...paused, cmd('CheckSla', {}, 50)];
    given(...reminded)
      .when(cmd('CheckSla', {}, 100))
      .thenEvents();
    const afterFirst = given(...reminded).state;
    expect(afterFirst && nextWakeAt(afterFirst, policy)).toBe(later(2 + 14 * 24));
    const [atMaximum] = given(...reminded)
      .when(cmd('CheckSla', {}, 2 + 14 * 24))
      .thenEvents('StabilisationReminded');
    expect(atMaximum?.data).toMatchObject({ reminder: 'maximum', due: later(2 + 14 * 24) });
    const done = given(...reminded, cmd('CheckSla', {}, 2 + 14 * 24));
    expect(done.state?.sla.stabilisation?.reminded).toEqual(['expected_end', 'maximum']);
    expect(done.state && nextWakeAt(done.state, policy)).toBeNull();
    given(...reminded, cmd('CheckSla', {}, 2 + 14 * 24))
      .when(cmd('CheckSla', {}, 1000))
      .thenEvents();
  });
  it('a check long overdue records both reminders, in order', () => {
    const fired = given(...toStatus.assigned(), stabilise('medical', 2, 50))
      .when(cmd('CheckSla', {}, 2000))
      .thenEvents('StabilisationReminded', 'StabilisationReminded');
    expect(fired.map((e) => e.type === 'StabilisationReminded' && e.data.reminder)).toEqual([
      'expected_end',
      'maximum',
    ]);
  });
  it('resuming ends it: no reminders, and the deadline moves by the pause', () => {
    const resumed = given(...toStatus.assigned(), stabilise('shelter', 11, 83), cmd('ResumeSla', {}, 31));
    expect(resumed.state?.sla.stabilisation).toBeUndefined();
    expect(resumed.state?.sla.paused).toBe(false);
    // 48 h budget, 10 h used before the pause, resumed at 31 h: due at 69 h.
    expect(resumed.state && stageDeadline(resumed.state.sla)).toBe(later(69));
    given(...toStatus.assigned(), stabilise('shelter', 11, 83), cmd('ResumeSla', {}, 31))
      .when(cmd('CheckSla', {}, 70))
      .thenEvents('SlaWarning', 'LeadEscalated');
  });
  it('survives a change of stage, and ends with the lead', () => {
    const moved = given(...toStatus.interview_requested(), stabilise('medical', 2.5, 50), completeInterview(3));
    expect(moved.state?.status).toBe('interview_completed');
    expect(moved.state?.sla).toMatchObject({ paused: true, stabilisation: { category: 'medical' } });
    const closed = given(...toStatus.assigned(), stabilise('medical', 2, 50), cmd('CloseLead', { reason: 'other' }, 3));
    expect(closed.state?.sla.stabilisation).toBeUndefined();
    expect(closed.state && nextWakeAt(closed.state, policy)).toBeNull();
  });
  it('shows in the timeline with its category and ends, the justification only as recorded', () => {
    const [event] = given(...toStatus.assigned())
      .when(
        cmd(
          'PauseForStabilisation',
          { category: 'shelter', expectedEnd: later(50), justification: 'Maria at the shelter' },
          2,
        ),
      )
      .thenEvents('StabilisationPaused');
    if (event === undefined) throw new Error('no event');
    const entry = timelineEntry(5, event);
    expect(entry.detail).toEqual({
      category: 'shelter',
      expectedEnd: later(50),
      maximumEnd: later(2 + 14 * 24),
      justification: 'recorded',
      usedMs: 1 * H,
    });
    expect(JSON.stringify(entry)).not.toMatch(/Maria/);
  });
  it('other pauses keep their rules: PauseSla takes a justification and sets no reminders', () => {
    const { state } = given(...toStatus.assigned(), cmd('PauseSla', { justification: 'j' }, 2));
    expect(state?.sla.stabilisation).toBeUndefined();
    expect(state && nextWakeAt(state, policy)).toBeNull();
  });
});
