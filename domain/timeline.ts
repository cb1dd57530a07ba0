import type { LeadEvent } from '../schemas/events';

export interface TimelineEntry {
  seq: number;
  type: LeadEvent['type'];
  at: string;
  actor: string;
  /** The event's data less anything that could identify a victim or a witness. */
  detail: Record<string, unknown>;
}

/** What a supervisor may see of an event without reading personal data. */
export function timelineEntry(seq: number, event: LeadEvent): TimelineEntry {
  const head = { seq, type: event.type, at: event.metadata.at, actor: event.metadata.actor };
  switch (event.type) {
    case 'LeadReceived': {
      const { intake, ...rest } = event.data;
      return { ...head, detail: { ...rest, victims: intake.potentialVictims.length } };
    }
    case 'InterviewRequested': {
      // The place can be a victim's shelter or home.
      const { place: _place, ...rest } = event.data;
      return { ...head, detail: rest };
    }
    case 'InterviewRescheduled':
      return { ...head, detail: { scheduledFor: event.data.scheduledFor, reason: 'recorded' } };
    // Free text written by agents can name a victim or a witness: the timeline says only that it exists.
    case 'LeadReassigned':
      return { ...head, detail: { ...event.data, reason: 'recorded' } };
    case 'PriorityChanged':
      return { ...head, detail: { ...event.data, reason: 'recorded' } };
    case 'SlaPaused':
      return { ...head, detail: { ...event.data, justification: 'recorded' } };
    case 'EscalationAcknowledged':
      return { ...head, detail: { ...event.data, note: event.data.note === null ? null : 'recorded' } };
    case 'NoteAdded':
      return { ...head, detail: { length: event.data.text.length } };
    case 'LeadClosed':
      return { ...head, detail: { reason: event.data.reason, note: event.data.note === null ? null : 'recorded' } };
    // What was learned of a victim's safety is personal data: the timeline shows that it was recorded, and the
    // urgency it raised (which the lead's priority shows anyway).
    case 'SafetyRecorded':
      return { ...head, detail: { safety: 'recorded', priority: event.data.priority } };
    case 'StabilisationPaused':
      return {
        ...head,
        detail: { ...event.data, justification: event.data.justification === null ? null : 'recorded' },
      };
    case 'StabilisationReminded':
    case 'PartnerAcknowledged':
    case 'PartnerAcknowledgementOverdue':
    case 'LeadValidated':
    case 'LeadRejected':
    case 'LeadAssigned':
    case 'InterviewCompleted':
    case 'CaseOpened':
    case 'SlaResumed':
    case 'SlaWarning':
    case 'LeadEscalated':
      return { ...head, detail: { ...event.data } };
    default: {
      const unreachable: never = event;
      throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
    }
  }
}
