/**
 * Who may see and do what: every decision about a caller is made here, over (caller, action, lead), and nowhere
 * else. A lead outside the caller's offices does not exist for it (404, never 403), so a probe learns nothing.
 * The README's role matrix is this table.
 */
import type { Caller, Role } from '../schemas/caller';
import { externalCommandTypes, type ExternalCommandType } from '../schemas/vocabulary';

/**
 * What a caller may do without naming a lead. `readReports`: SLA reports and counts over leads (aggregates, never a
 * victim's data), over the offices `reportScope` names.
 */
export type SystemAction =
  | 'submit'
  | 'list'
  | 'readAudit'
  | 'readReports'
  | 'simulatePolicies'
  | 'administer'
  | 'decodePayloads'
  | 'readPartnerLeads';
/** What a caller may do to one lead: read its state and events, read its intake (personal data), or a command. */
export type LeadAction = 'read' | 'readIntake' | ExternalCommandType;

// Agents learn what is known of a victim's safety while preparing contact, so they record it.
const interviewWork: LeadAction[] = [
  'RequestInterview',
  'RescheduleInterview',
  'CompleteInterview',
  'AddNote',
  'RecordSafety',
];
const officeRun: LeadAction[] = [
  'read',
  'readIntake',
  ...interviewWork,
  'ValidateLead',
  'AssignLead',
  'ReassignLead',
  'AcknowledgeEscalation',
  'PauseSla',
  // A pause for victim care is a supervisor's call (SACs and HQ too), never an agent's.
  'PauseForStabilisation',
  'ResumeSla',
  'ChangePriority',
  'CloseLead',
  'OpenCase',
];

export const leadActionsOf: Record<Role, readonly LeadAction[]> = {
  intake: [],
  agent: ['read', 'readIntake', ...interviewWork],
  supervisor: officeRun,
  sac: officeRun,
  hq: ['read', 'readIntake', ...externalCommandTypes],
  auditor: [],
  admin: [],
  // A partner sees no lead through /leads: its own referrals' status only, through /partner/leads.
  partner: [],
};

// Reports: supervisors and SACs run offices and answer for their SLA, HQ and admins for all of them; an agent works
// leads rather than offices, and an auditor reads who did what, not how fast.
export const systemActionsOf: Record<Role, readonly SystemAction[]> = {
  intake: ['submit'],
  agent: ['list'],
  supervisor: ['list', 'readReports'],
  sac: ['list', 'readReports'],
  hq: ['submit', 'list', 'decodePayloads', 'readReports', 'simulatePolicies'],
  auditor: ['readAudit'],
  admin: ['administer', 'decodePayloads', 'readReports', 'simulatePolicies'],
  partner: ['readPartnerLeads'],
};

export type Decision = { allowed: true } | { allowed: false; status: 403 | 404; reason: string };

const allow: Decision = { allowed: true };

export function mayDo(caller: Caller, action: SystemAction): Decision {
  if (caller.roles.some((role) => systemActionsOf[role].includes(action))) return allow;
  const may = [...new Set(caller.roles.flatMap((role) => systemActionsOf[role]))].map((a) => systemWords[a]);
  const instead = may.length === 0 ? '' : `; it may ${may.join(', ')}`;
  return { allowed: false, status: 403, reason: `${describeRoles(caller)} may not ${systemWords[action]}${instead}` };
}

/** The offices whose leads the caller may list: every office, or these. */
export function listScope(caller: Caller): 'all' | readonly string[] {
  if (caller.roles.includes('hq')) return 'all';
  return caller.offices;
}

/**
 * The offices whose numbers the caller's reports count: every office (unassigned leads included), or these. Reports
 * hold counts and durations, no lead and no personal data, so admins, who run the system, see them whole as HQ does.
 */
export function reportScope(caller: Caller): 'all' | readonly string[] {
  if (caller.roles.includes('hq') || caller.roles.includes('admin')) return 'all';
  return caller.offices;
}

/** What a caller's roles may ever do, for a console to show only what will work (GET /me). */
export interface Capabilities {
  subject: string;
  roles: Role[];
  offices: string[];
  may: {
    /** The commands some lead in the caller's scope could take from it (the lead's state and office narrow it). */
    commands: ExternalCommandType[];
    readIntake: boolean;
    readAudit: boolean;
    readReports: boolean;
    /** Replay the log under a proposed SLA policy (POST /reports/simulations). */
    simulatePolicies: boolean;
    submitLeads: boolean;
    /** Read its own referrals' status (GET /partner/leads/{reference}). */
    readPartnerLeads: boolean;
  };
}

export function capabilitiesOf(caller: Caller): Capabilities {
  const leadActions = new Set(caller.roles.flatMap((role) => leadActionsOf[role]));
  const may = (action: SystemAction) => mayDo(caller, action).allowed;
  return {
    subject: caller.subject,
    roles: [...caller.roles],
    offices: [...caller.offices],
    may: {
      commands: externalCommandTypes.filter((type) => leadActions.has(type)),
      readIntake: leadActions.has('readIntake'),
      readAudit: may('readAudit'),
      readReports: may('readReports'),
      simulatePolicies: may('simulatePolicies'),
      submitLeads: may('submit'),
      readPartnerLeads: may('readPartnerLeads'),
    },
  };
}

/**
 * A lead the caller has no business with is not found; one it may see but not act on this way is forbidden.
 * `target` is the office a ReassignLead or AssignLead moves the lead to: moving a lead out of the caller's offices is
 * HQ's alone.
 */
export function mayDoToLead(
  caller: Caller,
  action: LeadAction,
  lead: { office: string | null },
  target?: { office?: string },
): Decision {
  const inScope = (role: Role) =>
    role === 'hq' || (lead.office !== null && caller.offices.includes(lead.office) && leadActionsOf[role].length > 0);
  const seeing = caller.roles.filter((role) => inScope(role) && leadActionsOf[role].includes('read'));
  if (seeing.length === 0) return { allowed: false, status: 404, reason: 'no such lead' };
  const acting = seeing.filter((role) => leadActionsOf[role].includes(action));
  if (acting.length === 0) {
    return { allowed: false, status: 403, reason: `${describeRoles(caller)} may not ${leadWords(action)}` };
  }
  const movesTo = target?.office;
  if (movesTo !== undefined && !acting.includes('hq') && !caller.offices.includes(movesTo)) {
    return { allowed: false, status: 403, reason: 'only HQ HSTU may move a lead to an office outside your own' };
  }
  return allow;
}

/**
 * A referring partner reads the status of its own leads only: the lead's partner id (from its intake) must be the one
 * the partner's token speaks for. Any other lead, like an unknown reference, does not exist for it (404).
 */
export function mayReadPartnerLead(caller: Caller, lead: { partnerId: string | null } | undefined): Decision {
  const may = mayDo(caller, 'readPartnerLeads');
  if (!may.allowed) return may;
  const own = lead !== undefined && lead.partnerId !== null && caller.partner !== undefined;
  if (own && lead.partnerId === caller.partner) return allow;
  return { allowed: false, status: 404, reason: 'no such lead' };
}

const systemWords: Record<SystemAction, string> = {
  submit: 'submit leads',
  list: 'list leads',
  readAudit: 'read the audit log',
  administer: 'administer Leadline',
  decodePayloads: "decode Temporal's payloads",
  simulatePolicies: 'simulate SLA policies',
  readReports: 'read reports',
  readPartnerLeads: "read a referring partner's leads",
};

function leadWords(action: LeadAction): string {
  if (action === 'read') return 'read this lead';
  if (action === 'readIntake') return "read this lead's intake";
  return `send ${action}`;
}

function describeRoles(caller: Caller): string {
  return caller.roles.length === 0 ? 'a caller without a Leadline role' : `the role ${caller.roles.join(', ')}`;
}
