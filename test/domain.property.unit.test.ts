import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, evolve, fold } from '../domain';
import type { LeadCommand } from '../schemas/commands';
import type { LeadEvent } from '../schemas/events';
import { LeadState, isTerminal } from '../schemas/lead';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { sampleIntake } from './support/lead-fixtures';

const policy = defaultSlaPolicy();
const LEAD = '9b2f0d0e-1c55-4f7c-bb2e-0b8f3f2a7d11';
const T0 = Date.parse('2026-11-02T09:00:00.000Z');

type Draft = { type: LeadCommand['type']; data: unknown };
const office = fc.constantFrom('HSI-NEWARK', 'HSI-MIAMI', 'HSI-HOUSTON');
const draft: fc.Arbitrary<Draft> = fc.oneof(
  fc.constant<Draft>({ type: 'ValidateLead', data: { outcome: 'valid', fingerprint: 'fp' } }),
  fc.constant<Draft>({ type: 'ValidateLead', data: { outcome: 'invalid', fingerprint: 'fp', problems: ['p'] } }),
  office.map<Draft>((o) => ({ type: 'AssignLead', data: { office: o, routed: false } })),
  office.map<Draft>((o) => ({ type: 'ReassignLead', data: { office: o, reason: 'r' } })),
  fc.constant<Draft>({
    type: 'RequestInterview',
    data: { scheduledFor: '2026-11-04T15:00:00.000Z', place: 'p', victimSpecialist: false },
  }),
  // The sample lead is a minor: with a victim specialist the contact-safety rules let the interview through.
  fc.constant<Draft>({
    type: 'RequestInterview',
    data: { scheduledFor: '2026-11-04T15:00:00.000Z', place: 'p', victimSpecialist: true },
  }),
  fc
    .record({ safeToContact: fc.constantFrom('yes', 'no', 'unknown'), immediateDanger: fc.boolean() })
    .map<Draft>((safety) => ({ type: 'RecordSafety', data: safety })),
  fc
    .tuple(fc.constantFrom('medical', 'shelter', 'legal', 'counselling'), fc.integer({ min: 1, max: 14 * 24 }))
    .map<Draft>(([category, hours]) => ({
      type: 'PauseForStabilisation',
      // Relative to the command's time, filled in by `run`.
      data: { category, expectedEnd: `+${hours}h` },
    })),
  fc.constant<Draft>({ type: 'RescheduleInterview', data: { scheduledFor: '2026-11-05T15:00:00.000Z', reason: 'r' } }),
  fc.constant<Draft>({ type: 'CompleteInterview', data: { outcome: 'victim_identified' } }),
  fc.constant<Draft>({ type: 'OpenCase', data: { caseNumber: 'HSI-X-2026-0001' } }),
  fc.constant<Draft>({ type: 'CloseLead', data: { reason: 'other' } }),
  fc.constant<Draft>({ type: 'PauseSla', data: { justification: 'j' } }),
  fc.constant<Draft>({ type: 'ResumeSla', data: {} }),
  fc.constant<Draft>({ type: 'AcknowledgeEscalation', data: {} }),
  fc
    .constantFrom('urgent', 'standard')
    .map<Draft>((p) => ({ type: 'ChangePriority', data: { priority: p, reason: 'r' } })),
  fc.constant<Draft>({ type: 'AddNote', data: { text: 'n' } }),
  fc.constant<Draft>({ type: 'CheckSla', data: {} }),
);
/** Commands with rising times (gaps up to three days) and occasionally a repeated command id. */
const script = fc.array(fc.tuple(draft, fc.integer({ min: 0, max: 72 * 60 }), fc.boolean()), { maxLength: 40 });

const relative = (at: number, offset: string) => new Date(at + Number(offset.slice(1, -1)) * 3_600_000).toISOString();

function run(steps: [Draft, number, boolean][]) {
  let at = T0;
  let state: LeadState | undefined;
  const log: LeadEvent[] = [];
  let lastId = 'intake';
  const apply = (command: LeadCommand) => {
    const before = state;
    const decision = decide(command, state, policy);
    if (!decision.ok) {
      expect(state).toBe(before);
      return;
    }
    for (const event of decision.events) {
      log.push(event);
      state = evolve(state, event);
    }
  };
  apply({
    type: 'ReceiveLead',
    data: { leadId: LEAD, intake: sampleIntake('hhs-tipline-minor') },
    metadata: { actor: 'a', at: new Date(at).toISOString(), commandId: lastId },
  });
  steps.forEach(([d, minutes, repeat], i) => {
    at += minutes * 60_000;
    const commandId = repeat ? lastId : `c${i}`;
    lastId = commandId;
    const data =
      d.type === 'PauseForStabilisation'
        ? { ...(d.data as object), expectedEnd: relative(at, (d.data as { expectedEnd: string }).expectedEnd) }
        : d.data;
    apply({
      type: d.type,
      data,
      metadata: { actor: 'a', at: new Date(at).toISOString(), commandId },
    } as LeadCommand);
  });
  return { state, log };
}

describe('random command sequences', () => {
  it('never reach a state the fold of the log could not produce, and never drop an event', () => {
    fc.assert(
      fc.property(script, (steps) => {
        const { state, log } = run(steps);
        expect(state).toBeDefined();
        expect(state?.version).toBe(log.length);
        expect(fold(log)).toEqual(state);
        LeadState.parse(state);
      }),
      { numRuns: 300 },
    );
  });
  it('keep the clock coherent: no clock once finished, a level never above 3, paused means stopped', () => {
    fc.assert(
      fc.property(script, (steps) => {
        const { state } = run(steps);
        if (state === undefined) return;
        if (isTerminal(state.status)) expect(state.sla.stage).toBeNull();
        expect(state.sla.level).toBeGreaterThanOrEqual(0);
        expect(state.sla.level).toBeLessThanOrEqual(3);
        if (state.sla.paused) expect(state.sla.runningSince).toBeNull();
        // A stabilisation pause exists only while the clock is paused, and reminds at most once of each kind.
        if (state.sla.stabilisation) expect(state.sla.paused).toBe(true);
        const reminded = state.sla.stabilisation?.reminded ?? [];
        expect(new Set(reminded).size).toBe(reminded.length);
        expect(state.sla.usedMs).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });
  it('nothing follows a terminal event', () => {
    fc.assert(
      fc.property(script, (steps) => {
        const { log } = run(steps);
        const end = log.findIndex(
          (e) => e.type === 'CaseOpened' || e.type === 'LeadClosed' || e.type === 'LeadRejected',
        );
        if (end >= 0) expect(log.length).toBe(end + 1);
      }),
      { numRuns: 300 },
    );
  });
});
