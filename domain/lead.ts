import type { CommandType, LeadCommand, LeadCommandOf } from '../schemas/commands';
import type { LeadEvent } from '../schemas/events';
import type { ContactSafety, LeadIntake } from '../schemas/intake';
import type { LeadState, LeadStatus } from '../schemas/lead';
import { isTerminal } from '../schemas/vocabulary';
import type { SlaPolicy } from '../schemas/sla-policy';
import { commandDigest, eventCommandDigest } from './command-digest';
import { LeadRuleViolation, type SafetyRuleBreach } from './errors';
import {
  evolvePartner,
  nextPartnerRung,
  owesPartnerLoop,
  partnerAcknowledgementBudgetMs,
  partnerAcknowledgementOwed,
  startPartnerClock,
} from './partner';
import {
  idleClock,
  nextSlaAction,
  pendingStabilisationReminders,
  reEscalationMs,
  stabilisationMaximumMs,
  stageBudgetMs,
  stageDeadline,
  stageForStatus,
  startStage,
  usedMsAt,
} from './sla';

const RECENT_COMMANDS_KEPT = 64;

const anyOpen: CommandType[] = [
  'CloseLead',
  'PauseSla',
  'PauseForStabilisation',
  'ResumeSla',
  'ChangePriority',
  'AddNote',
  'RecordSafety',
  'AcknowledgePartner',
  'CheckSla',
];

const byStatus: Record<LeadStatus, CommandType[]> = {
  received: ['ValidateLead', ...anyOpen],
  validated: ['AssignLead', ...anyOpen],
  assigned: ['ReassignLead', 'RequestInterview', ...anyOpen],
  interview_requested: ['ReassignLead', 'RescheduleInterview', 'CompleteInterview', ...anyOpen],
  interview_completed: ['OpenCase', ...anyOpen],
  case_opened: [],
  closed: [],
};

/** The commands the lead's state allows now, as a supervisor would see them (internal ones left out). */
export function allowedCommands(state: LeadState | undefined): CommandType[] {
  if (state === undefined) return ['ReceiveLead'];
  const allowed = byStatus[state.status].filter(
    (c) => c !== 'CheckSla' && (c !== 'AcknowledgePartner' || partnerAcknowledgementOwed(state)),
  );
  if (isTerminal(state.status)) return allowed;
  const withoutClockMoves = allowed.filter((c) =>
    state.sla.paused ? c !== 'PauseSla' && c !== 'PauseForStabilisation' : c !== 'ResumeSla',
  );
  return state.sla.level > 0 ? [...withoutClockMoves, 'AcknowledgeEscalation'] : withoutClockMoves;
}

/** Urgent when the intake flags imminent danger or a minor, as DESIGN.md sets out. */
export function intakeIsUrgent(intake: LeadIntake): boolean {
  const safety = safetyOfIntake(intake);
  return safety.immediateDanger || safety.minor;
}

type SafetyFacts = NonNullable<LeadState['safety']>;

/** What the contact-safety rules know from an intake: anything in it that says minor, interpreter or danger counts. */
export function safetyOfIntake(intake: LeadIntake): SafetyFacts {
  const told = intake.safety;
  const victims = intake.potentialVictims;
  return {
    safeToContact: told?.safeToContact ?? 'unknown',
    consentToContact: told?.consentToContact ?? 'unknown',
    minor: told?.minor === true || intake.flags.minorInvolved || victims.some((v) => v.minor === true),
    needsInterpreter: told?.needsInterpreter === true || victims.some((v) => v.needsInterpreter === true),
    immediateDanger: told?.immediateDanger === true || intake.flags.imminentDanger,
  };
}

const nothingKnown: SafetyFacts = {
  safeToContact: 'unknown',
  consentToContact: 'unknown',
  minor: false,
  needsInterpreter: false,
  immediateDanger: false,
};

/** A later record wins field by field: what it leaves out stays as it was known. */
function mergeSafety(known: SafetyFacts | undefined, update: ContactSafety): SafetyFacts {
  const base = known ?? nothingKnown;
  return {
    safeToContact: update.safeToContact ?? base.safeToContact,
    consentToContact: update.consentToContact ?? base.consentToContact,
    minor: update.minor ?? base.minor,
    needsInterpreter: update.needsInterpreter ?? base.needsInterpreter,
    immediateDanger: update.immediateDanger ?? base.immediateDanger,
  };
}

/** The contact-safety rules an interview request breaks, each with what would satisfy it. */
export function contactSafetyBreaches(
  safety: SafetyFacts | undefined,
  request: { interpreterLanguage?: string | undefined; victimSpecialist: boolean },
): SafetyRuleBreach[] {
  if (safety === undefined) return [];
  const breaches: SafetyRuleBreach[] = [];
  if (safety.safeToContact === 'no') {
    breaches.push({
      rule: 'contact_unsafe',
      satisfiedBy:
        'contact is marked unsafe: once it can be made safely (e.g. through the person the safety record names), record it with RecordSafety { safeToContact: "yes" }',
    });
  }
  if (safety.consentToContact === 'no') {
    breaches.push({
      rule: 'consent_not_given',
      satisfiedBy:
        'consent to contact is not given: once it is, record it with RecordSafety { consentToContact: "yes" }',
    });
  }
  if (safety.minor && request.victimSpecialist !== true) {
    breaches.push({
      rule: 'minor_needs_victim_specialist',
      satisfiedBy: 'a minor is interviewed only with a victim specialist: send victimSpecialist: true',
    });
  }
  const language = request.interpreterLanguage;
  if (safety.needsInterpreter && (typeof language !== 'string' || language.trim() === '')) {
    breaches.push({
      rule: 'interpreter_needed',
      satisfiedBy: "an interpreter is needed: send interpreterLanguage, the interpreter's language",
    });
  }
  return breaches;
}

export type Decision = { ok: true; events: LeadEvent[] } | { ok: false; error: LeadRuleViolation };

function reject(state: LeadState | undefined, command: LeadCommand, detail?: string): Decision {
  const allowed = allowedCommands(state);
  const where = state === undefined ? 'before the lead is received' : `while the lead is ${state.status}`;
  const message =
    detail ??
    `${command.type} is not allowed ${where}; allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none (the lead is finished)'}`;
  return {
    ok: false,
    error: new LeadRuleViolation(
      state === undefined ? 'lead_missing' : detail ? 'invalid_command' : 'command_not_allowed',
      message,
      state?.status ?? null,
      allowed,
    ),
  };
}

const emit = (...events: LeadEvent[]): Decision => ({ ok: true, events });

/**
 * Decides which events a command causes, or why it is refused. Pure: time and ids arrive in the
 * command's metadata, the SLA budgets in the policy.
 */
export function decide(command: LeadCommand, state: LeadState | undefined, policy: SlaPolicy): Decision {
  const { metadata } = command;
  if (command.type === 'ReceiveLead') {
    if (state !== undefined) return reject(state, command, `lead ${state.leadId} has already been received`);
    const { intake, leadId } = command.data;
    const priority = intakeIsUrgent(intake) ? 'urgent' : 'standard';
    const partner = owesPartnerLoop(intake)
      ? { id: intake.partner.id ?? null, acknowledgementBudgetMs: partnerAcknowledgementBudgetMs(policy, priority) }
      : undefined;
    return emit({
      type: 'LeadReceived',
      data: {
        leadId,
        source: intake.source,
        kind: intake.kind,
        jurisdiction: intake.location.jurisdiction,
        priority,
        slaBudgetMs: stageBudgetMs(policy, 'validation', priority),
        intake,
        ...(partner === undefined ? {} : { partner }),
      },
      metadata,
    });
  }
  if (state === undefined) return reject(state, command);
  const seen = state.recentCommandIds.lastIndexOf(metadata.commandId);
  if (seen !== -1) {
    const earlier = state.recentCommandDigests?.[seen] ?? '';
    // A retry is recorded once; an id whose request is unknown (carried from an older run) is taken as a retry.
    if (earlier === '' || earlier === commandDigest(command)) return emit();
    return {
      ok: false,
      error: new LeadRuleViolation(
        'command_id_reused',
        // Neither the id nor the data is quoted: a submission's id can be the partner's own reference.
        'the commandId was already used on this lead for another command or other data; send a new commandId for a new command',
        state.status,
        allowedCommands(state),
      ),
    };
  }
  if (command.type === 'AcknowledgePartner' && !isTerminal(state.status) && !partnerAcknowledgementOwed(state)) {
    const why =
      state.partner === undefined
        ? 'it owes no partner an acknowledgement (a public tip)'
        : `its partner was already acknowledged (${state.partner.acknowledgedBy ?? 'recorded'})`;
    return reject(state, command, `AcknowledgePartner is not allowed while the lead is ${state.status}: ${why}`);
  }
  const allowedNow = command.type === 'CheckSla' ? byStatus[state.status] : allowedCommands(state);
  if (!allowedNow.includes(command.type)) return reject(state, command);
  const budgetFor = (status: LeadStatus, priority = state.priority) => {
    const stage = stageForStatus(status);
    return stage === null ? 0 : stageBudgetMs(policy, stage, priority);
  };

  switch (command.type) {
    case 'ValidateLead': {
      const d = command.data;
      if (d.outcome === 'valid') {
        return emit({
          type: 'LeadValidated',
          data: { fingerprint: d.fingerprint, slaBudgetMs: budgetFor('validated') },
          metadata,
        });
      }
      return emit({
        type: 'LeadRejected',
        data:
          d.outcome === 'invalid'
            ? { reason: 'invalid', fingerprint: d.fingerprint, problems: d.problems }
            : { reason: 'duplicate', fingerprint: d.fingerprint, duplicateOf: d.duplicateOf },
        metadata,
      });
    }
    case 'AssignLead':
      return emit({
        type: 'LeadAssigned',
        data: {
          office: command.data.office,
          agent: command.data.agent ?? null,
          routed: command.data.routed,
          slaBudgetMs: budgetFor('assigned'),
        },
        metadata,
      });
    case 'ReassignLead':
      if (command.data.office === state.office && (command.data.agent ?? null) === state.agent) {
        return reject(
          state,
          command,
          `the lead is already assigned to ${state.office}${state.agent ? ` / ${state.agent}` : ''}`,
        );
      }
      return emit({
        type: 'LeadReassigned',
        data: {
          fromOffice: state.office,
          office: command.data.office,
          agent: command.data.agent ?? null,
          reason: command.data.reason,
        },
        metadata,
      });
    case 'RequestInterview': {
      const breaches = contactSafetyBreaches(state.safety, command.data);
      if (breaches.length > 0) {
        return {
          ok: false,
          error: new LeadRuleViolation(
            'safety_rule',
            `RequestInterview is refused by the contact-safety rules: ${breaches
              .map((b) => `${b.rule} (${b.satisfiedBy})`)
              .join('; ')}`,
            state.status,
            allowedCommands(state),
            breaches,
          ),
        };
      }
      return emit({
        type: 'InterviewRequested',
        data: {
          scheduledFor: command.data.scheduledFor,
          place: command.data.place,
          interpreterLanguage: command.data.interpreterLanguage ?? null,
          victimSpecialist: command.data.victimSpecialist,
          slaBudgetMs: budgetFor('interview_requested'),
        },
        metadata,
      });
    }
    case 'RescheduleInterview':
      return emit({
        type: 'InterviewRescheduled',
        data: {
          scheduledFor: command.data.scheduledFor,
          place: command.data.place ?? null,
          reason: command.data.reason,
        },
        metadata,
      });
    case 'CompleteInterview':
      return emit({
        type: 'InterviewCompleted',
        data: { outcome: command.data.outcome, slaBudgetMs: budgetFor('interview_completed') },
        metadata,
      });
    case 'OpenCase':
      return emit({ type: 'CaseOpened', data: { caseNumber: command.data.caseNumber }, metadata });
    case 'CloseLead':
      return emit({
        type: 'LeadClosed',
        data: { reason: command.data.reason, note: command.data.note ?? null },
        metadata,
      });
    case 'PauseSla':
      return emit({
        type: 'SlaPaused',
        data: { justification: command.data.justification, usedMs: usedMsAt(state.sla, Date.parse(metadata.at)) },
        metadata,
      });
    case 'PauseForStabilisation': {
      const now = Date.parse(metadata.at);
      const expectedEnd = Date.parse(command.data.expectedEnd);
      const maximumEnd = now + stabilisationMaximumMs(policy);
      if (!(expectedEnd > now)) {
        return reject(state, command, 'a stabilisation pause needs an expectedEnd after the pause begins');
      }
      if (expectedEnd > maximumEnd) {
        return reject(
          state,
          command,
          `a stabilisation pause may last until ${new Date(maximumEnd).toISOString()} by the SLA policy: choose an expectedEnd by then`,
        );
      }
      return emit({
        type: 'StabilisationPaused',
        data: {
          category: command.data.category,
          // As the caller sent it, so a retry of the same command reads back as the same request.
          expectedEnd: command.data.expectedEnd,
          maximumEnd: new Date(maximumEnd).toISOString(),
          justification: command.data.justification ?? null,
          usedMs: usedMsAt(state.sla, now),
        },
        metadata,
      });
    }
    case 'RecordSafety': {
      const update = command.data;
      // Urgency follows safety: danger or a minor learned after intake makes the lead urgent (never less urgent).
      const raise = state.priority !== 'urgent' && (update.immediateDanger === true || update.minor === true);
      return emit({
        type: 'SafetyRecorded',
        data: {
          safety: update,
          priority: raise
            ? { from: state.priority, to: 'urgent', slaBudgetMs: budgetFor(state.status, 'urgent') }
            : null,
        },
        metadata,
      });
    }
    case 'ResumeSla':
      return emit({ type: 'SlaResumed', data: { pausedSince: lastPause(state) }, metadata });
    case 'AcknowledgeEscalation':
      return emit({
        type: 'EscalationAcknowledged',
        data: {
          level: state.sla.level,
          holdUntil: new Date(Date.parse(metadata.at) + reEscalationMs(policy)).toISOString(),
          note: command.data.note ?? null,
        },
        metadata,
      });
    case 'ChangePriority':
      if (command.data.priority === state.priority) {
        return reject(state, command, `the lead's priority is already ${state.priority}`);
      }
      return emit({
        type: 'PriorityChanged',
        data: {
          from: state.priority,
          to: command.data.priority,
          reason: command.data.reason,
          slaBudgetMs: budgetFor(state.status, command.data.priority),
        },
        metadata,
      });
    case 'AddNote':
      return emit({ type: 'NoteAdded', data: { text: command.data.text }, metadata });
    case 'AcknowledgePartner':
      return emit({ type: 'PartnerAcknowledged', data: { dueAt: state.partner?.dueAt ?? state.receivedAt }, metadata });
    case 'CheckSla':
      return emit(
        ...slaEventsDue(state, policy, command),
        ...remindersDue(state, command),
        ...partnerRungsDue(state, policy, command),
      );
    default: {
      const unreachable: never = command;
      throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

function lastPause(state: LeadState): string {
  return state.sla.pausedAt ?? state.updatedAt;
}

/** Every rung of the ladder the clock has reached by the command's time, in order. */
function slaEventsDue(state: LeadState, policy: SlaPolicy, command: LeadCommandOf<'CheckSla'>): LeadEvent[] {
  const events: LeadEvent[] = [];
  const now = Date.parse(command.metadata.at);
  let current = state;
  for (let action = nextSlaAction(current, policy); action !== null && Date.parse(action.at) <= now;) {
    const stage = current.sla.stage;
    const deadline = stageDeadline(current.sla);
    if (stage === null || deadline === null) break;
    const event: LeadEvent =
      action.kind === 'warning'
        ? { type: 'SlaWarning', data: { stage, deadline }, metadata: command.metadata }
        : { type: 'LeadEscalated', data: { stage, level: action.level, deadline }, metadata: command.metadata };
    events.push(event);
    current = evolveOne(current, event);
    action = nextSlaAction(current, policy);
  }
  return events;
}

/** The stabilisation pause's reminders that have fallen due by the command's time, each once. */
function remindersDue(state: LeadState, command: LeadCommandOf<'CheckSla'>): LeadEvent[] {
  const now = Date.parse(command.metadata.at);
  const pausedAt = state.sla.pausedAt ?? state.updatedAt;
  return pendingStabilisationReminders(state)
    .filter((r) => Date.parse(r.at) <= now)
    .map((r) => ({
      type: 'StabilisationReminded',
      data: { reminder: r.reminder, due: r.at, pausedAt },
      metadata: command.metadata,
    }));
}

/** Every rung of a late partner acknowledgement reached by the command's time, each once, in order. */
function partnerRungsDue(state: LeadState, policy: SlaPolicy, command: LeadCommandOf<'CheckSla'>): LeadEvent[] {
  const now = Date.parse(command.metadata.at);
  const events: LeadEvent[] = [];
  let current = state;
  for (let rung = nextPartnerRung(current, policy); rung !== null && Date.parse(rung.at) <= now;) {
    const dueAt = current.partner?.dueAt ?? current.receivedAt;
    const event: LeadEvent = {
      type: 'PartnerAcknowledgementOverdue',
      data: { level: rung.level, dueAt },
      metadata: command.metadata,
    };
    events.push(event);
    current = evolveOne(current, event);
    rung = nextPartnerRung(current, policy);
  }
  return events;
}

function remember(state: LeadState, event: LeadEvent): Pick<LeadState, 'recentCommandIds' | 'recentCommandDigests'> {
  const ids = state.recentCommandIds;
  // A command's later events (several SLA rungs at once) keep what its first event remembered.
  if (ids.includes(event.metadata.commandId)) {
    return state.recentCommandDigests === undefined
      ? { recentCommandIds: ids }
      : { recentCommandIds: ids, recentCommandDigests: state.recentCommandDigests };
  }
  // Digests unknown for ids carried from an older run are '' so both lists stay aligned.
  const known = state.recentCommandDigests ?? [];
  const digests = ids.map((_, i) => known[i] ?? '');
  const nextIds = [...ids, event.metadata.commandId];
  const nextDigests = [...digests, eventCommandDigest(event)];
  const drop = Math.max(0, nextIds.length - RECENT_COMMANDS_KEPT);
  return { recentCommandIds: nextIds.slice(drop), recentCommandDigests: nextDigests.slice(drop) };
}

/** Starts the lead's state from its first event. */
export function initialState(event: LeadEvent): LeadState {
  if (event.type !== 'LeadReceived') {
    throw new LeadRuleViolation(
      'lead_missing',
      `a lead's first event must be LeadReceived, not ${event.type}`,
      null,
      [],
    );
  }
  const { data, metadata } = event;
  return {
    leadId: data.leadId,
    version: 1,
    status: 'received',
    priority: data.priority,
    source: data.source,
    kind: data.kind,
    jurisdiction: data.jurisdiction,
    receivedAt: metadata.at,
    updatedAt: metadata.at,
    fingerprint: null,
    office: null,
    agent: null,
    interview: null,
    caseNumber: null,
    closedReason: null,
    duplicateOf: null,
    noteCount: 0,
    sla: startStage(idleClock, 'validation', data.slaBudgetMs, metadata.at),
    safety: safetyOfIntake(data.intake),
    ...(data.partner === undefined ? {} : { partner: startPartnerClock(data.partner, metadata.at) }),
    recentCommandIds: [metadata.commandId],
    recentCommandDigests: [eventCommandDigest(event)],
  };
}

function moveTo(state: LeadState, status: LeadStatus, budgetMs: number, at: string): Pick<LeadState, 'status' | 'sla'> {
  return { status, sla: startStage(state.sla, stageForStatus(status), budgetMs, at) };
}

function evolveOne(state: LeadState, event: LeadEvent): LeadState {
  const next = evolveLead(state, event);
  // The partner's clock follows the same events; leads without one (public tips) are left as they are.
  return next.partner === undefined ? next : { ...next, partner: evolvePartner(next.partner, event) };
}

function evolveLead(state: LeadState, event: LeadEvent): LeadState {
  const at = event.metadata.at;
  const base: LeadState = {
    ...state,
    version: state.version + 1,
    updatedAt: at,
    ...remember(state, event),
  };
  switch (event.type) {
    case 'LeadReceived':
      throw new LeadRuleViolation('lead_exists', `lead ${state.leadId} has already been received`, state.status, []);
    case 'LeadValidated':
      return {
        ...base,
        fingerprint: event.data.fingerprint,
        ...moveTo(state, 'validated', event.data.slaBudgetMs, at),
      };
    case 'LeadRejected':
      return {
        ...base,
        fingerprint: event.data.fingerprint,
        closedReason: event.data.reason,
        duplicateOf: event.data.duplicateOf ?? null,
        ...moveTo(state, 'closed', 0, at),
      };
    case 'LeadAssigned':
      return {
        ...base,
        office: event.data.office,
        agent: event.data.agent,
        ...moveTo(state, 'assigned', event.data.slaBudgetMs, at),
      };
    case 'LeadReassigned':
      return { ...base, office: event.data.office, agent: event.data.agent };
    case 'InterviewRequested':
      return {
        ...base,
        interview: {
          scheduledFor: event.data.scheduledFor,
          interpreterLanguage: event.data.interpreterLanguage,
          victimSpecialist: event.data.victimSpecialist,
          outcome: null,
        },
        ...moveTo(state, 'interview_requested', event.data.slaBudgetMs, at),
      };
    case 'InterviewRescheduled':
      return state.interview === null
        ? base
        : { ...base, interview: { ...state.interview, scheduledFor: event.data.scheduledFor } };
    case 'InterviewCompleted':
      return {
        ...base,
        interview: state.interview === null ? null : { ...state.interview, outcome: event.data.outcome },
        ...moveTo(state, 'interview_completed', event.data.slaBudgetMs, at),
      };
    case 'CaseOpened':
      return { ...base, caseNumber: event.data.caseNumber, ...moveTo(state, 'case_opened', 0, at) };
    case 'LeadClosed':
      return { ...base, closedReason: event.data.reason, ...moveTo(state, 'closed', 0, at) };
    case 'SlaPaused':
      return {
        ...base,
        sla: { ...state.sla, usedMs: event.data.usedMs, runningSince: null, paused: true, pausedAt: at },
      };
    case 'SlaResumed': {
      const { stabilisation: _ended, ...clock } = state.sla;
      return {
        ...base,
        sla: { ...clock, runningSince: state.sla.stage === null ? null : at, paused: false, pausedAt: null },
      };
    }
    case 'StabilisationPaused':
      return {
        ...base,
        sla: {
          ...state.sla,
          usedMs: event.data.usedMs,
          runningSince: null,
          paused: true,
          pausedAt: at,
          stabilisation: {
            category: event.data.category,
            expectedEnd: event.data.expectedEnd,
            maximumEnd: event.data.maximumEnd,
            reminded: [],
          },
        },
      };
    case 'StabilisationReminded': {
      const pause = state.sla.stabilisation;
      if (pause === undefined || pause === null) return base;
      return {
        ...base,
        sla: { ...state.sla, stabilisation: { ...pause, reminded: [...pause.reminded, event.data.reminder] } },
      };
    }
    case 'SafetyRecorded': {
      const raised = event.data.priority;
      return {
        ...base,
        safety: mergeSafety(state.safety, event.data.safety),
        ...(raised === null ? {} : { priority: raised.to, sla: { ...state.sla, budgetMs: raised.slaBudgetMs } }),
      };
    }
    case 'EscalationAcknowledged':
      return { ...base, sla: { ...state.sla, holdUntil: event.data.holdUntil } };
    case 'PriorityChanged':
      return { ...base, priority: event.data.to, sla: { ...state.sla, budgetMs: event.data.slaBudgetMs } };
    case 'NoteAdded':
      return { ...base, noteCount: state.noteCount + 1 };
    case 'SlaWarning':
      return { ...base, sla: { ...state.sla, warned: true } };
    case 'LeadEscalated':
      return { ...base, sla: { ...state.sla, warned: true, level: event.data.level } };
    // The partner's clock moves in evolvePartner; these events change nothing else.
    case 'PartnerAcknowledged':
    case 'PartnerAcknowledgementOverdue':
      return base;
    default: {
      const unreachable: never = event;
      throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Applies one event; the state is undefined only before `LeadReceived`. */
export function evolve(state: LeadState | undefined, event: LeadEvent): LeadState {
  return state === undefined ? initialState(event) : evolveOne(state, event);
}

/** Folds a lead's whole log. */
export function fold(events: readonly LeadEvent[]): LeadState | undefined {
  return events.reduce<LeadState | undefined>(evolve, undefined);
}
