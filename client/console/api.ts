/**
 * The console's calls to the API: same origin, the person's bearer token, and the API's problem documents
 * (RFC 9457) turned into errors that say what went wrong and, for a form, which field.
 */
import { currentSession } from './session';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  issues?: { path: string; message: string }[];
  leadStatus?: string;
  allowed?: string[];
  /** The safety rules a command broke, each with what would satisfy it. */
  rules?: { rule: string; satisfiedBy: string }[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail || problem.title);
  }
}

/** Thrown when the token is missing or refused: the page signs in again. */
export class SignedOut extends Error {}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const session = currentSession();
  if (session === null) throw new SignedOut('not signed in');
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${session.accessToken}`,
      accept: 'application/json',
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (response.status === 401) throw new SignedOut('the sign-in has expired');
  const body = (await response.json().catch(() => null)) as unknown;
  if (!response.ok) {
    const problem =
      body !== null && typeof body === 'object' && 'detail' in body
        ? (body as Problem)
        : { type: 'about:blank', title: response.statusText, status: response.status, detail: response.statusText };
    throw new ApiError(problem);
  }
  return body as T;
}

export interface Me {
  subject: string;
  roles: string[];
  offices: string[];
  may: {
    commands: string[];
    readIntake: boolean;
    readAudit: boolean;
    readReports: boolean;
    simulatePolicies?: boolean;
    submitLeads: boolean;
    readPartnerLeads?: boolean;
  };
}

export interface NextRung {
  rung: 'warning' | 'level1' | 'level2' | 'level3';
  at: string;
}

export interface LeadSummary {
  leadId: string;
  status: string;
  priority: string;
  source: string;
  kind: string;
  office: string | null;
  agent: string | null;
  stage: string | null;
  stageDeadline: string | null;
  escalationLevel: number;
  slaPaused: boolean;
  receivedAt: string;
  updatedAt: string;
  version: number;
  overdue: boolean;
  nextRung?: NextRung | null;
  stageBudgetMs?: number | null;
}

export interface LeadPage {
  items: LeadSummary[];
  nextCursor: string | null;
}

export interface SlaClock {
  stage: string | null;
  budgetMs: number;
  usedMs: number;
  runningSince: string | null;
  paused: boolean;
  pausedAt: string | null;
  warned: boolean;
  level: number;
  holdUntil: string | null;
}

export interface LeadState {
  leadId: string;
  version: number;
  status: string;
  priority: string;
  source: string;
  kind: string;
  jurisdiction: string;
  receivedAt: string;
  updatedAt: string;
  office: string | null;
  agent: string | null;
  interview: {
    scheduledFor: string;
    interpreterLanguage: string | null;
    victimSpecialist: boolean;
    outcome: string | null;
  } | null;
  caseNumber: string | null;
  closedReason: string | null;
  noteCount: number;
  sla: SlaClock;
}

export interface LeadView {
  leadId: string;
  from: 'workflow' | 'read_model';
  state: LeadState;
  stageDeadline: string | null;
  allowedCommands: string[];
  allowedForYou?: string[];
  nextRung?: NextRung | null;
}

export interface TimelinePage {
  leadId: string;
  events: { seq: number; type: string; at: string; actor: string; detail: Record<string, unknown> }[];
}

export interface OfficeReport {
  generatedAt: string;
  offices: {
    office: string;
    name: string;
    open: number;
    overdue: number;
    paused?: number;
    escalated: { level1: number; level2: number; level3: number };
  }[];
}

export interface SlaReport {
  from: string;
  to: string;
  stages: { stage: string; finished: number; metSla: number; share: number | null }[];
}

export interface Distribution {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  buckets: { upToMs: number | null; label: string; count: number }[];
}

export interface DurationReport {
  from: string;
  to: string;
  intakeToInterview: Distribution;
  intakeToDecision: Distribution;
}

export interface EscalationReport {
  weeks: { weekStart: string; level1: number; level2: number; level3: number }[];
}
