/**
 * The LeadClient as an authenticated caller may use it: every call asks the access policy (client/access-policy.ts)
 * first, records who asked in the audit log (reads of victims' data included, refusals included), and acts as the
 * caller's verified subject. The HTTP API talks to leads only through this; the LeadClient itself stays the trusted
 * entry point of code inside Leadline (the worker, scripts).
 */
import type { AccessAuditEntry, AuditQuery, AuditRow } from '../schemas/audit';
import type { Caller } from '../schemas/caller';
import type { CommandRequest } from '../schemas/commands';
import type { LeadIntake, LeadIntakeInput } from '../schemas/intake';
import type { LeadListFilter } from '../schemas/read-model';
import { externalCommandTypes, type ExternalCommandType } from '../schemas/vocabulary';
import {
  capabilitiesOf,
  listScope,
  mayDo,
  mayDoToLead,
  type Capabilities,
  type Decision,
  type LeadAction,
  type SystemAction,
} from './access-policy';
import { InvalidInputError, LeadNotFoundError } from './errors';
import type { LeadClient } from './lead-client';

/** What the guard needs from PostgreSQL (activities/access-store.ts). */
export interface AccessStore {
  /** The office that scopes a lead (null while unassigned); undefined when no lead has this id. */
  scopeOf(leadId: string): Promise<{ office: string | null } | undefined>;
  record(entry: AccessAuditEntry): Promise<void>;
  /** The lead's intake, read in one transaction with its audit row; undefined when no lead has this id. */
  readIntake(leadId: string, audit: AccessAuditEntry): Promise<LeadIntake | undefined>;
  auditPage(query: AuditQuery): Promise<{ items: AuditRow[]; nextCursor: string | null }>;
}

/** The caller may not do this (403); the detail says which role would. */
export class ForbiddenError extends Error {
  override readonly name = 'ForbiddenError';
}

export class GuardedLeads {
  constructor(
    private readonly leads: LeadClient,
    private readonly store: AccessStore,
  ) {}

  /** Answers once the intake is recorded (LeadClient.submitLead). */
  async submitLead(caller: Caller, intake: LeadIntakeInput, idempotencyKey?: string) {
    await this.allowed(caller, 'submit', 'SubmitLead');
    return this.leads.submitLead(intake, this.submission(caller, idempotencyKey));
  }

  /** Answers once the lead is durably queued (LeadClient.acceptLead, `Prefer: respond-async`). */
  async acceptLead(caller: Caller, intake: LeadIntakeInput, idempotencyKey?: string) {
    await this.allowed(caller, 'submit', 'SubmitLead');
    return this.leads.acceptLead(intake, this.submission(caller, idempotencyKey));
  }

  /** A key names a lead for the caller that chose it: another caller reusing it must neither reach nor reveal it. */
  private submission(caller: Caller, idempotencyKey: string | undefined) {
    return {
      actor: caller.subject,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey: `${caller.subject}:${idempotencyKey}` }),
    };
  }

  async listLeads(caller: Caller, filter: LeadListFilter) {
    await this.allowed(caller, 'list', 'ListLeads');
    const scope = listScope(caller);
    const page = await this.leads.listLeads(filter, scope === 'all' ? undefined : scope, caller.subject);
    await this.store.record({
      actor: caller.subject,
      leadId: null,
      action: 'ListLeads',
      outcome: 'read',
      detail: { leads: page.items.length },
    });
    return page;
  }

  /** The lead, with the commands its state allows narrowed to those this caller may send (`allowedForYou`). */
  async getLead(caller: Caller, leadId: string) {
    await this.inScope(caller, leadId, 'read', 'ReadLead');
    const view = await this.leads.getLead(leadId);
    await this.store.record({ actor: caller.subject, leadId, action: 'ReadLead', outcome: 'read', detail: {} });
    const lead = { office: view.state.office };
    const allowedForYou = externalCommandTypes.filter(
      (type) => view.allowedCommands.includes(type) && mayDoToLead(caller, type, lead).allowed,
    );
    return { ...view, allowedForYou };
  }

  /** Who the caller is and what its roles may ever do; about the caller alone, so nothing is audited. */
  me(caller: Caller): Capabilities {
    return capabilitiesOf(caller);
  }

  async timeline(caller: Caller, leadId: string) {
    await this.inScope(caller, leadId, 'read', 'ReadLeadEvents');
    const events = await this.leads.timeline(leadId);
    await this.store.record({ actor: caller.subject, leadId, action: 'ReadLeadEvents', outcome: 'read', detail: {} });
    return events;
  }

  async command<T extends ExternalCommandType>(
    caller: Caller,
    leadId: string,
    type: T,
    data: CommandRequest<T>['data'],
    commandId: string | undefined,
  ) {
    // One budget for the request: time the access check spends on PostgreSQL is not given to Temporal again.
    const deadline = this.leads.requestDeadline();
    // Bad data (an office the directory does not hold, say) is the caller's mistake whoever the caller is: said first,
    // and it reveals nothing about the lead.
    this.leads.checkedCommand(type, data);
    const target = (data as { office?: unknown } | undefined)?.office;
    await this.inScope(caller, leadId, type, type, typeof target === 'string' ? { office: target } : undefined);
    return this.leads.command(
      leadId,
      type,
      data,
      { actor: caller.subject, ...(commandId === undefined ? {} : { commandId }) },
      deadline,
    );
  }

  /** Victims' personal data: read only with a stated purpose, and audited in the same transaction as the read. */
  async intake(caller: Caller, leadId: string, purpose: string) {
    await this.inScope(caller, leadId, 'readIntake', 'ReadIntake');
    const intake = await this.store.readIntake(leadId, {
      actor: caller.subject,
      leadId,
      action: 'ReadIntake',
      outcome: 'read',
      detail: { purpose },
    });
    if (intake === undefined) throw new LeadNotFoundError(leadId);
    return intake;
  }

  async auditLog(caller: Caller, query: AuditQuery) {
    await this.allowed(caller, 'readAudit', 'ReadAudit');
    const page = await this.store.auditPage(query).catch((error: unknown) => {
      // The store refuses a cursor it did not issue with a RangeError: the caller's mistake, not an outage.
      if (error instanceof RangeError) {
        throw new InvalidInputError('the audit query is not valid', [{ path: 'cursor', message: error.message }]);
      }
      throw error;
    });
    await this.store.record({
      actor: caller.subject,
      leadId: query.leadId ?? null,
      action: 'ReadAudit',
      outcome: 'read',
      detail: { rows: page.items.length },
    });
    return page;
  }

  /** Temporal's payloads decoded or encoded for an operator (the codec server): HQ HSTU and admins, each call audited. */
  async codec(caller: Caller, operation: 'encode' | 'decode', payloads: number, namespace: string) {
    const action = operation === 'decode' ? 'DecodePayloads' : 'EncodePayloads';
    await this.allowed(caller, 'decodePayloads', action);
    await this.store.record({
      actor: caller.subject,
      leadId: null,
      action,
      outcome: 'read',
      detail: { namespace, payloads },
    });
  }

  /** A refusal of a system action, audited; allowed ones go on. */
  async allowed(caller: Caller, action: SystemAction, audited: string): Promise<void> {
    await this.enforce(caller, null, audited, mayDo(caller, action));
  }

  private async inScope(
    caller: Caller,
    leadId: string,
    action: LeadAction,
    audited: string,
    target?: { office: string },
  ): Promise<void> {
    const scope = await this.store.scopeOf(leadId);
    // A lead not (yet) in the read model (accepted, its intake not recorded) has no office, like an unassigned one:
    // only a caller who sees every office (HQ HSTU) reaches it, and is told whether it is pending or unknown; for
    // anyone else it does not exist.
    const decision: Decision =
      scope === undefined
        ? listScope(caller) === 'all'
          ? mayDoToLead(caller, action, { office: null }, target)
          : { allowed: false, status: 404, reason: 'no such lead' }
        : mayDoToLead(caller, action, scope, target);
    await this.enforce(caller, leadId, audited, decision);
  }

  private async enforce(caller: Caller, leadId: string | null, action: string, decision: Decision): Promise<void> {
    if (decision.allowed) return;
    await this.store.record({
      actor: caller.subject,
      leadId,
      action,
      outcome: 'refused',
      detail: { status: decision.status, reason: decision.reason },
    });
    if (decision.status === 404 && leadId !== null) throw new LeadNotFoundError(leadId);
    throw new ForbiddenError(decision.reason);
  }
}
