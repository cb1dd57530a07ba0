import type { CommandType, LeadCommand } from '../schemas/commands';
import type { LeadEvent } from '../schemas/events';

/*
 * A reused command id must be told apart from a retry: the same id with the same request is a retry, recorded once;
 * with another request it is a mistake to refuse. The state is a fold of the log, so what a past id asked for has to
 * be read back from the events it caused: each event names the request that caused it, and both sides are reduced
 * to the same fields before they are hashed. The state keeps only the short hash, never the text (a note can name a
 * victim), and the workflow sandbox has no node:crypto, hence FNV-1a.
 */

type Request = { type: CommandType; fields: Record<string, unknown> };

/** What the caller asked for, in the fields its events keep; absent, null and undefined all read as absent. */
function requestOfCommand(command: Pick<LeadCommand, 'type' | 'data'>): Request {
  const { type } = command;
  const data = command.data as Record<string, unknown>;
  const pick = (...names: string[]) => ({ type, fields: Object.fromEntries(names.map((n) => [n, data[n]])) });
  switch (type) {
    case 'ReceiveLead':
      // The intake is refused outright when a lead is received twice; the id is enough to tell it from the rest.
      return pick('leadId');
    case 'ValidateLead':
      return pick('outcome', 'fingerprint', 'problems', 'duplicateOf');
    case 'AssignLead':
      return pick('office', 'agent', 'routed');
    case 'ReassignLead':
      return pick('office', 'agent', 'reason');
    case 'RequestInterview':
      return pick('scheduledFor', 'place', 'interpreterLanguage', 'victimSpecialist');
    case 'RescheduleInterview':
      return pick('scheduledFor', 'place', 'reason');
    case 'CompleteInterview':
      return pick('outcome');
    case 'OpenCase':
      return pick('caseNumber');
    case 'CloseLead':
      return pick('reason', 'note');
    case 'PauseSla':
      return pick('justification');
    case 'ResumeSla':
      return pick();
    case 'AcknowledgeEscalation':
      return pick('note');
    case 'ChangePriority':
      return pick('priority', 'reason');
    case 'AddNote':
      return pick('text');
    case 'RecordSafety':
      return pick(
        'safeToContact',
        'consentToContact',
        'contactThrough',
        'preferredLanguage',
        'needsInterpreter',
        'minor',
        'immediateDanger',
      );
    case 'PauseForStabilisation':
      return pick('category', 'expectedEnd', 'justification');
    case 'AcknowledgePartner':
      return pick();
    case 'CheckSla':
      return pick();
    default: {
      const unreachable: never = type;
      throw new Error(`unknown command ${String(unreachable)}`);
    }
  }
}

/** The request an event was caused by, as `requestOfCommand` reads it from the command. */
function requestOfEvent(event: LeadEvent): Request {
  switch (event.type) {
    case 'LeadReceived':
      return { type: 'ReceiveLead', fields: { leadId: event.data.leadId } };
    case 'LeadValidated':
      return { type: 'ValidateLead', fields: { outcome: 'valid', fingerprint: event.data.fingerprint } };
    case 'LeadRejected':
      return {
        type: 'ValidateLead',
        fields: {
          outcome: event.data.reason,
          fingerprint: event.data.fingerprint,
          problems: event.data.problems,
          duplicateOf: event.data.duplicateOf,
        },
      };
    case 'LeadAssigned':
      return {
        type: 'AssignLead',
        fields: { office: event.data.office, agent: event.data.agent, routed: event.data.routed },
      };
    case 'LeadReassigned':
      return {
        type: 'ReassignLead',
        fields: { office: event.data.office, agent: event.data.agent, reason: event.data.reason },
      };
    case 'InterviewRequested':
      return {
        type: 'RequestInterview',
        fields: {
          scheduledFor: event.data.scheduledFor,
          place: event.data.place,
          interpreterLanguage: event.data.interpreterLanguage,
          victimSpecialist: event.data.victimSpecialist,
        },
      };
    case 'InterviewRescheduled':
      return {
        type: 'RescheduleInterview',
        fields: { scheduledFor: event.data.scheduledFor, place: event.data.place, reason: event.data.reason },
      };
    case 'InterviewCompleted':
      return { type: 'CompleteInterview', fields: { outcome: event.data.outcome } };
    case 'CaseOpened':
      return { type: 'OpenCase', fields: { caseNumber: event.data.caseNumber } };
    case 'LeadClosed':
      return { type: 'CloseLead', fields: { reason: event.data.reason, note: event.data.note } };
    case 'SlaPaused':
      return { type: 'PauseSla', fields: { justification: event.data.justification } };
    case 'SlaResumed':
      return { type: 'ResumeSla', fields: {} };
    case 'EscalationAcknowledged':
      return { type: 'AcknowledgeEscalation', fields: { note: event.data.note } };
    case 'PriorityChanged':
      return { type: 'ChangePriority', fields: { priority: event.data.to, reason: event.data.reason } };
    case 'NoteAdded':
      return { type: 'AddNote', fields: { text: event.data.text } };
    case 'SafetyRecorded': {
      const { safety } = event.data;
      return {
        type: 'RecordSafety',
        fields: {
          safeToContact: safety.safeToContact,
          consentToContact: safety.consentToContact,
          contactThrough: safety.contactThrough,
          preferredLanguage: safety.preferredLanguage,
          needsInterpreter: safety.needsInterpreter,
          minor: safety.minor,
          immediateDanger: safety.immediateDanger,
        },
      };
    }
    case 'StabilisationPaused':
      return {
        type: 'PauseForStabilisation',
        fields: {
          category: event.data.category,
          expectedEnd: event.data.expectedEnd,
          justification: event.data.justification,
        },
      };
    case 'PartnerAcknowledged':
      return { type: 'AcknowledgePartner', fields: {} };
    case 'SlaWarning':
    case 'LeadEscalated':
    case 'StabilisationReminded':
    case 'PartnerAcknowledgementOverdue':
      return { type: 'CheckSla', fields: {} };
    default: {
      const unreachable: never = event;
      throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
    }
  }
}

/** JSON with keys sorted and absent values (null, undefined) left out, so both readings of a request agree. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** 32-bit FNV-1a over UTF-16 code units, as 8 hex digits: enough to tell a reused id, too short to say much else. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

const digestOf = (request: Request) => fnv1a(canonical({ type: request.type, fields: request.fields }));

/** The digest of what a command asks for. */
export function commandDigest(command: Pick<LeadCommand, 'type' | 'data'>): string {
  return digestOf(requestOfCommand(command));
}

/** The digest of the command that caused an event: equal to `commandDigest` of that command. */
export function eventCommandDigest(event: LeadEvent): string {
  return digestOf(requestOfEvent(event));
}
