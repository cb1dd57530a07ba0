import type { z } from 'zod';
import type { commandData, ExternalCommandType } from '../../schemas/commands';
import type { LeadIntakeInput } from '../../schemas/intake';
import { capabilitiesOf } from '../access-policy';

/*
 * Values the OpenAPI document shows in place of "string": shaped like the real thing (a uuid, an ISO time, an office of
 * config/offices.json, a subject of config/dev-identities.json) and invented, like the test fixtures. A unit test parses
 * every one with the schema it illustrates, so an example that drifts from its schema fails there.
 */

export const EXAMPLE_LEAD_ID = '6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01';
export const EXAMPLE_OFFICE = 'HSI-NEWARK';
export const EXAMPLE_OTHER_OFFICE = 'HSI-NEWYORK';
export const EXAMPLE_AGENT = 'hsi-newark.agent';
export const EXAMPLE_SUPERVISOR = 'hsi-newark.supervisor';
export const EXAMPLE_TIME = '2026-11-02T09:00:00.000Z';

const hours = (h: number) => new Date(Date.parse(EXAMPLE_TIME) + h * 3_600_000).toISOString();

export const commandExamples: { [T in ExternalCommandType]: z.input<(typeof commandData)[T]> } = {
  ValidateLead: { outcome: 'valid', fingerprint: '3b9f0c7e5d2a41f6a8c1e0b7d4f29a6c5e8b1d3f7a0c2e4b6d8f1a3c5e7b9d0f' },
  AssignLead: { office: EXAMPLE_OFFICE, agent: EXAMPLE_AGENT },
  ReassignLead: { office: EXAMPLE_OTHER_OFFICE, reason: 'the potential victims moved to Queens' },
  RequestInterview: {
    scheduledFor: '2026-12-02T15:00:00Z',
    place: 'Newark field office, interview room 2',
    interpreterLanguage: 'vi',
    victimSpecialist: true,
  },
  RescheduleInterview: { scheduledFor: '2026-12-04T15:00:00Z', reason: 'the interpreter is available on Friday' },
  CompleteInterview: { outcome: 'victim_identified' },
  OpenCase: { caseNumber: 'HSI-NWK-2026-0042' },
  CloseLead: { reason: 'referred_to_other_agency', note: 'referred to the state task force' },
  PauseSla: { justification: 'victim stabilisation: medical care first' },
  ResumeSla: {},
  AcknowledgeEscalation: { note: 'supervisor calling the partner today' },
  ChangePriority: { priority: 'urgent', reason: 'a minor is named in the partner’s update' },
  AddNote: { text: 'called the partner; interview room booked' },
  RecordSafety: { safeToContact: 'no', contactThrough: 'NGO caseworker', needsInterpreter: true },
  PauseForStabilisation: { category: 'shelter', expectedEnd: hours(72), justification: 'placed in a shelter' },
  AcknowledgePartner: {},
};

export const intakeExample: LeadIntakeInput = {
  source: 'state_local_le',
  kind: 'interview_request',
  externalReference: 'NJSP-2026-004417',
  summary: 'Two workers found living on the premises of a nail salon during a labour inspection (invented example).',
  flags: { imminentDanger: false, minorInvolved: false },
  potentialVictims: [{ name: 'Invented Person A', approximateAge: 29, languages: ['vi'], needsInterpreter: true }],
  location: { jurisdiction: 'US-NJ', city: 'Newark' },
  partner: {
    organisation: "Example County Prosecutor's Office",
    name: 'Det. Sample Officer',
    email: 'tips@prosecutor.example.org',
  },
  requestedInterview: { preferredTime: '2026-12-02T15:00:00Z', place: 'Example County Prosecutor’s Office' },
};

export const nextRungExample = { rung: 'level1', at: hours(24) } as const;

export const leadSummaryExample = {
  leadId: EXAMPLE_LEAD_ID,
  status: 'assigned',
  priority: 'standard',
  source: 'state_local_le',
  kind: 'interview_request',
  office: EXAMPLE_OFFICE,
  agent: EXAMPLE_AGENT,
  stage: 'interview_request',
  stageDeadline: hours(48),
  escalationLevel: 0,
  slaPaused: false,
  caseNumber: null,
  closedReason: null,
  receivedAt: EXAMPLE_TIME,
  updatedAt: hours(0.5),
  version: 3,
  overdue: false,
  nextRung: { rung: 'warning', at: hours(36) },
  stageBudgetMs: 48 * 3_600_000,
} as const;

/** What GET /me answers a Newark supervisor: the access policy's own answer, so it cannot drift from it. */
export const meExample = capabilitiesOf({
  subject: EXAMPLE_SUPERVISOR,
  kind: 'person',
  roles: ['supervisor'],
  offices: [EXAMPLE_OFFICE],
});

export const problemExample = {
  type: 'urn:leadline:problem:invalid-input',
  title: 'Invalid input',
  status: 400,
  detail: 'AssignLead is not valid: data.office: office HSI-NOWHERE is not in the office directory',
  instance: `/leads/${EXAMPLE_LEAD_ID}/commands/AssignLead`,
  requestId: 'b0c6f0e2-3f0e-4c55-9d43-2a8e3c1f7b10',
  issues: [{ path: 'data.office', message: 'office HSI-NOWHERE is not in the office directory' }],
} as const;
