import { externalCommandTypes } from '../schemas/vocabulary';
import { describe, expect, it } from 'vitest';
import {
  capabilitiesOf,
  listScope,
  mayDo,
  mayDoToLead,
  reportScope,
  type LeadAction,
  type SystemAction,
} from '../client/access-policy';
import type { Caller, Role } from '../schemas/caller';

const caller = (role: Role, offices: string[] = []): Caller => ({
  subject: `${role}-1`,
  kind: 'person',
  roles: [role],
  offices,
});
const newarkAgent = caller('agent', ['HSI-NEWARK']);
const newarkSupervisor = caller('supervisor', ['HSI-NEWARK']);
const newarkSac = caller('sac', ['HSI-NEWARK']);
const hq = caller('hq');
const auditor = caller('auditor');
const admin = caller('admin');
const intake = { ...caller('intake'), kind: 'service' as const };

const newarkLead = { office: 'HSI-NEWARK' };
const houstonLead = { office: 'HSI-GULFCOAST' };
const unassigned = { office: null };

describe('what each role may do to a lead (the README matrix)', () => {
  const table: [string, Caller, LeadAction, { office: string | null }, 200 | 403 | 404][] = [
    ['agent reads a lead of their office', newarkAgent, 'read', newarkLead, 200],
    ['agent reads the intake of a lead they work', newarkAgent, 'readIntake', newarkLead, 200],
    ['agent requests an interview', newarkAgent, 'RequestInterview', newarkLead, 200],
    ['agent completes an interview', newarkAgent, 'CompleteInterview', newarkLead, 200],
    ['agent adds a note', newarkAgent, 'AddNote', newarkLead, 200],
    ['agent may not close', newarkAgent, 'CloseLead', newarkLead, 403],
    ['agent may not reassign', newarkAgent, 'ReassignLead', newarkLead, 403],
    ['agent may not pause the clock', newarkAgent, 'PauseSla', newarkLead, 403],
    ['agent records what is known of the victim’s safety', newarkAgent, 'RecordSafety', newarkLead, 200],
    ['agent may not pause the clock for victim care', newarkAgent, 'PauseForStabilisation', newarkLead, 403],
    ['agent does not see another office', newarkAgent, 'read', houstonLead, 404],
    ['agent does not see an unassigned lead', newarkAgent, 'read', unassigned, 404],
    ['supervisor closes a lead of their office', newarkSupervisor, 'CloseLead', newarkLead, 200],
    ['supervisor pauses the clock', newarkSupervisor, 'PauseSla', newarkLead, 200],
    ['supervisor pauses the clock for victim care', newarkSupervisor, 'PauseForStabilisation', newarkLead, 200],
    ['supervisor records safety', newarkSupervisor, 'RecordSafety', newarkLead, 200],
    ['Newark supervisor cannot pause a Houston lead', newarkSupervisor, 'PauseForStabilisation', houstonLead, 404],
    ['supervisor acknowledges an escalation', newarkSupervisor, 'AcknowledgeEscalation', newarkLead, 200],
    ['supervisor changes priority', newarkSupervisor, 'ChangePriority', newarkLead, 200],
    ['supervisor reads the intake', newarkSupervisor, 'readIntake', newarkLead, 200],
    ['Newark supervisor cannot see a Houston lead', newarkSupervisor, 'read', houstonLead, 404],
    ['Newark supervisor cannot act on a Houston lead', newarkSupervisor, 'CloseLead', houstonLead, 404],
    ['SAC acknowledges an escalation of their office', newarkSac, 'AcknowledgeEscalation', newarkLead, 200],
    ['SAC does not see another office', newarkSac, 'read', houstonLead, 404],
    ['SAC pauses the clock for victim care', newarkSac, 'PauseForStabilisation', newarkLead, 200],
    ['HQ pauses the clock for victim care', hq, 'PauseForStabilisation', houstonLead, 200],
    ['auditor may not pause for victim care', auditor, 'PauseForStabilisation', newarkLead, 404],
    ['intake service may not record safety', intake, 'RecordSafety', newarkLead, 404],
    ['HQ reads any office', hq, 'read', houstonLead, 200],
    ['HQ reads an unassigned lead', hq, 'read', unassigned, 200],
    ['HQ assigns an unassigned lead', hq, 'AssignLead', unassigned, 200],
    ['HQ reads the intake', hq, 'readIntake', newarkLead, 200],
    ['auditor does not read leads', auditor, 'read', newarkLead, 404],
    ['auditor never reads an intake', auditor, 'readIntake', newarkLead, 404],
    ['admin never reads an intake', admin, 'readIntake', newarkLead, 404],
    ['intake service does not read leads', intake, 'read', newarkLead, 404],
    ['intake service cannot command', intake, 'CloseLead', newarkLead, 404],
  ];
  it.each(table)('%s', (_what, who, action, lead, expected) => {
    const decision = mayDoToLead(who, action, lead);
    expect(decision.allowed ? 200 : decision.status).toBe(expected);
  });

  it('moving a lead to another office is HQ’s alone', () => {
    expect(mayDoToLead(newarkSupervisor, 'ReassignLead', newarkLead, { office: 'HSI-NEWYORK' })).toMatchObject({
      allowed: false,
      status: 403,
    });
    expect(mayDoToLead(newarkSupervisor, 'ReassignLead', newarkLead, { office: 'HSI-NEWARK' }).allowed).toBe(true);
    expect(mayDoToLead(hq, 'ReassignLead', newarkLead, { office: 'HSI-NEWYORK' }).allowed).toBe(true);
  });

  it('a caller with no role sees nothing', () => {
    const nobody: Caller = { subject: 'x', kind: 'person', roles: [], offices: ['HSI-NEWARK'] };
    expect(mayDoToLead(nobody, 'read', newarkLead)).toMatchObject({ allowed: false, status: 404 });
    expect(mayDo(nobody, 'list')).toMatchObject({ allowed: false, status: 403 });
  });
});

describe('what each role may do without a lead', () => {
  const table: [Caller, SystemAction, boolean][] = [
    [intake, 'submit', true],
    [intake, 'list', false],
    [newarkAgent, 'list', true],
    [newarkAgent, 'submit', false],
    [hq, 'submit', true],
    [hq, 'decodePayloads', true],
    [auditor, 'readAudit', true],
    [auditor, 'list', false],
    [admin, 'administer', true],
    [admin, 'decodePayloads', true],
    [admin, 'list', false],
    [newarkSupervisor, 'readAudit', false],
    [newarkSupervisor, 'decodePayloads', false],
    [newarkSupervisor, 'readReports', true],
    [newarkSac, 'readReports', true],
    [hq, 'readReports', true],
    [admin, 'readReports', true],
    [newarkAgent, 'readReports', false],
    [intake, 'readReports', false],
    [auditor, 'readReports', false],
  ];
  it.each(table)('%o may %s: %s', (who, action, allowed) => {
    expect(mayDo(who, action).allowed).toBe(allowed);
  });

  it('lists are scoped to the caller’s offices; HQ sees all', () => {
    expect(listScope(newarkSupervisor)).toEqual(['HSI-NEWARK']);
    expect(listScope(hq)).toBe('all');
  });

  it('reports count the caller’s offices; HQ and admins count all', () => {
    expect(reportScope(newarkSupervisor)).toEqual(['HSI-NEWARK']);
    expect(reportScope(newarkSac)).toEqual(['HSI-NEWARK']);
    expect(reportScope(hq)).toBe('all');
    expect(reportScope(admin)).toBe('all');
  });

  it('a refusal names what the caller’s roles do allow', () => {
    expect(mayDo(newarkAgent, 'readReports')).toEqual({
      allowed: false,
      status: 403,
      reason: 'the role agent may not read reports; it may list leads',
    });
    expect(mayDo(auditor, 'readReports')).toMatchObject({
      reason: expect.stringMatching(/; it may read the audit log$/),
    });
    expect(mayDo(intake, 'readReports')).toMatchObject({ reason: expect.stringMatching(/; it may submit leads$/) });
    const nobody: Caller = { subject: 'x', kind: 'person', roles: [], offices: [] };
    expect(mayDo(nobody, 'readReports')).toMatchObject({
      reason: 'a caller without a Leadline role may not read reports',
    });
  });
});

describe('reports and what a caller may ever do (GET /me)', () => {
  it('reports cover every office for HQ and admins, their own for supervisors and SACs', () => {
    expect(reportScope(hq)).toBe('all');
    expect(reportScope(admin)).toBe('all');
    expect(reportScope(newarkSupervisor)).toEqual(['HSI-NEWARK']);
    expect(reportScope(newarkSac)).toEqual(['HSI-NEWARK']);
    expect(mayDo(auditor, 'readReports')).toMatchObject({
      allowed: false,
      status: 403,
      reason: /may not read reports/,
    });
  });

  it('an agent may send the interview commands and a note, read intakes, and nothing else', () => {
    expect(capabilitiesOf(newarkAgent)).toEqual({
      subject: 'agent-1',
      roles: ['agent'],
      offices: ['HSI-NEWARK'],
      may: {
        commands: ['RequestInterview', 'RescheduleInterview', 'CompleteInterview', 'AddNote', 'RecordSafety'],
        readIntake: true,
        readAudit: false,
        readReports: false,
        simulatePolicies: false,
        submitLeads: false,
        readPartnerLeads: false,
      },
    });
  });

  it('each role’s commands are exactly those the lead policy allows it on a lead of its office', () => {
    for (const who of [newarkAgent, newarkSupervisor, newarkSac, hq, auditor, admin, intake]) {
      const { may } = capabilitiesOf(who);
      const allowed = may.commands.filter((type) => mayDoToLead(who, type, newarkLead).allowed);
      expect(allowed, who.roles.join()).toEqual(may.commands);
      expect(may.readIntake).toBe(mayDoToLead(who, 'readIntake', newarkLead).allowed);
      expect(may.readAudit).toBe(mayDo(who, 'readAudit').allowed);
      expect(may.submitLeads).toBe(mayDo(who, 'submit').allowed);
    }
    expect(capabilitiesOf(hq).may.commands).toEqual([...externalCommandTypes]);
    expect(capabilitiesOf(newarkSupervisor).may.commands).toContain('AssignLead');
    expect(capabilitiesOf(auditor).may).toMatchObject({ commands: [], readIntake: false, readAudit: true });
    expect(capabilitiesOf(intake).may).toMatchObject({ commands: [], submitLeads: true, readReports: false });
  });
});
