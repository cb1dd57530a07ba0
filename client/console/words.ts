/**
 * The console's words: durations, countdowns and the timeline as a person reads them. Pure functions of their
 * arguments (the clock is passed in), so the unit tests pin them and the page shows the same sentence every time.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "3 d 4 h", "3 h 12 min", "12 min", "40 s": the two largest units, never a bare number of milliseconds. */
export function duration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < MINUTE) return `${Math.floor(abs / 1000)} s`;
  const days = Math.floor(abs / DAY);
  const hours = Math.floor((abs % DAY) / HOUR);
  const minutes = Math.floor((abs % HOUR) / MINUTE);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return `${minutes} min`;
}

/** Time left until a deadline: "2 h 5 min left", or "overdue by 40 min". */
export function timeLeft(deadline: string | null, now: number, paused = false): string {
  if (paused) return 'clock paused';
  if (deadline === null) return '—';
  const left = Date.parse(deadline) - now;
  return left >= 0 ? `${duration(left)} left` : `overdue by ${duration(left)}`;
}

export const statusWords: Record<string, string> = {
  received: 'Received',
  validated: 'Validated',
  assigned: 'Assigned',
  interview_requested: 'Interview requested',
  interview_completed: 'Interview completed',
  case_opened: 'Case opened',
  closed: 'Closed',
};

export const stageWords: Record<string, string> = {
  validation: 'validation',
  assignment: 'assignment',
  interview_request: 'requesting the interview',
  interview: 'the interview',
  disposition: 'the decision',
};

export const rungWords: Record<string, string> = {
  warning: 'warning',
  level1: 'level 1',
  level2: 'level 2',
  level3: 'level 3',
};

/** Who each rung of the ladder tells (the SLA policy's ladder, DESIGN.md). */
const toldAt: Record<number, string> = {
  1: 'the assignee and the office supervisor notified',
  2: 'the Special Agent in Charge notified',
  3: 'HQ HSTU notified',
};

const closeWords: Record<string, string> = {
  invalid: 'not a valid lead',
  duplicate: 'a duplicate',
  no_trafficking_indicators: 'no trafficking indicators',
  referred_to_other_agency: 'referred to another agency',
  victim_declined: 'the victim declined',
  unable_to_locate: 'unable to locate the victim',
  other: 'another reason',
};

const outcomeWords: Record<string, string> = {
  victim_identified: 'victim identified',
  no_trafficking_indicators: 'no trafficking indicators',
  victim_declined: 'the victim declined',
  unable_to_locate: 'unable to locate the victim',
};

export interface TimelineEvent {
  seq: number;
  type: string;
  at: string;
  actor: string;
  detail: Record<string, unknown>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const str = (value: unknown): string => (typeof value === 'string' ? value : String(value));
const words = (value: unknown, table: Record<string, string>) => table[str(value)] ?? str(value).replace(/_/g, ' ');

/** One sentence per event, timed from the intake: "Validated 3 h 12 min after intake". */
export function describeEvent(event: TimelineEvent, receivedAt: string, officeName: (id: string) => string): string {
  const d = event.detail;
  const after = Date.parse(event.at) - Date.parse(receivedAt);
  const when = after <= 0 ? 'at intake' : `${duration(after)} after intake`;
  switch (event.type) {
    case 'LeadReceived':
      return `Received from ${str(d.source).replace(/_/g, ' ')} (${str(d.priority)} priority, ${str(d.victims)} potential victim${d.victims === 1 ? '' : 's'})`;
    case 'LeadValidated':
      return `Validated ${when}`;
    case 'LeadRejected':
      return `Rejected as ${words(d.reason, closeWords)} ${when}`;
    case 'LeadAssigned':
      return `${d.routed === true ? 'Routed' : 'Assigned'} to ${officeName(str(d.office))}${d.agent === null || d.agent === undefined ? '' : ` (${str(d.agent)})`} ${when}`;
    case 'LeadReassigned':
      return `Moved to ${officeName(str(d.office))}${d.agent === null || d.agent === undefined ? '' : ` (${str(d.agent)})`} ${when}; the reason is recorded`;
    case 'InterviewRequested':
      return `Interview requested ${when}, for ${new Date(str(d.scheduledFor)).toLocaleString()}${d.interpreterLanguage ? `, interpreter: ${str(d.interpreterLanguage)}` : ''}${d.victimSpecialist === true ? ', with a victim specialist' : ''}`;
    case 'InterviewRescheduled':
      return `Interview moved to ${new Date(str(d.scheduledFor)).toLocaleString()} ${when}; the reason is recorded`;
    case 'InterviewCompleted':
      return `Interview held ${when}: ${words(d.outcome, outcomeWords)}`;
    case 'CaseOpened':
      return `Case ${str(d.caseNumber)} opened ${when}`;
    case 'LeadClosed':
      return `Closed ${when}: ${words(d.reason, closeWords)}`;
    case 'SlaPaused':
      return `Clock paused ${when} after ${duration(Number(d.usedMs))} of the stage; the justification is recorded`;
    case 'SlaResumed':
      return `Clock resumed ${when}, after a pause of ${duration(Date.parse(event.at) - Date.parse(str(d.pausedSince)))}`;
    case 'EscalationAcknowledged':
      return `Escalation level ${str(d.level)} acknowledged ${when}; the ladder holds until ${new Date(str(d.holdUntil)).toLocaleString()}`;
    case 'PriorityChanged':
      return `Priority changed from ${str(d.from)} to ${str(d.to)} ${when}`;
    case 'NoteAdded':
      return `Note added ${when}`;
    case 'SlaWarning':
      return `Warning: ${words(d.stage, stageWords)} is at 75 % of its time, ${when}`;
    case 'LeadEscalated':
      return `Escalated to level ${str(d.level)} ${when}: ${toldAt[Number(d.level)] ?? 'escalated'}`;
    case 'SafetyRecorded':
      return `Safety and consent recorded ${when}${isRecord(d.priority) ? `; the lead became ${str(d.priority.to)}` : ''}`;
    case 'StabilisationPaused':
      return `Clock paused for victim care (${str(d.category)}) ${when}, expected to end ${new Date(str(d.expectedEnd)).toLocaleString()}`;
    case 'StabilisationReminded':
      return `Reminder ${when}: the victim-care pause reached its ${d.reminder === 'maximum' ? 'longest allowed end' : 'expected end'}`;
    case 'PartnerAcknowledged':
      return `The referring partner was told the lead is taken up ${when}`;
    case 'PartnerAcknowledgementOverdue':
      return `The partner's acknowledgement is late ${when}: ${Number(d.level) >= 2 ? 'HQ HSTU' : 'the office supervisor'} notified`;
    default:
      return `${event.type.replace(/([a-z])([A-Z])/g, '$1 $2')} ${when}`;
  }
}

/** Who did it, in words: the workflow's own steps are "Leadline". */
export function actorWords(actor: string): string {
  if (actor.startsWith('system:')) return 'Leadline';
  return actor.replace(/^(user|service):/, '');
}

/** The ladder of a stage as fractions of its budget (the SLA policy's defaults, DESIGN.md). */
export const LADDER = [
  { rung: 'warning', fraction: 0.75, label: 'Warning (75 %)' },
  { rung: 'level1', fraction: 1, label: 'Level 1 (100 %)' },
  { rung: 'level2', fraction: 1.5, label: 'Level 2 (150 %)' },
  { rung: 'level3', fraction: 2, label: 'Level 3 (200 %)' },
] as const;

export interface Clock {
  budgetMs: number;
  usedMs: number;
  runningSince: string | null;
  paused: boolean;
}

/** Time the stage has used so far: before the latest start, and since. */
export function elapsed(clock: Clock, now: number): number {
  return clock.usedMs + (clock.runningSince === null || clock.paused ? 0 : now - Date.parse(clock.runningSince));
}

/** Each rung of the ladder with when it fires (null while the clock is stopped) and whether it has passed. */
export function ladder(clock: Clock, now: number) {
  const used = elapsed(clock, now);
  return LADDER.map((step) => {
    const at = step.fraction * clock.budgetMs;
    return {
      ...step,
      atMs: at,
      passed: used >= at,
      when: clock.paused || clock.runningSince === null ? null : new Date(now + (at - used)).toISOString(),
    };
  });
}
