/**
 * The console's calls to the API: same origin, the person's bearer token, and the API's problem documents
 * (RFC 9457) turned into errors that say what went wrong and, for a form, which field.
 */
import type { LeadState } from '../../schemas/lead';
import type { LeadListItem, NextRung } from '../../schemas/read-model';
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

/** The API's shapes, as the schemas it publishes define them (types only: nothing of them is bundled). */
export type { LeadListItem as LeadSummary, NextRung } from '../../schemas/read-model';
export type { LeadState, SlaClock } from '../../schemas/lead';
export type {
  Distribution,
  DurationsReport as DurationReport,
  EscalationsReport as EscalationReport,
  OfficesReport as OfficeReport,
  SlaReport,
} from '../../schemas/reports';

export interface LeadPage {
  items: LeadListItem[];
  nextCursor: string | null;
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
