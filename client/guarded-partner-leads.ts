/**
 * What a referring partner may read (the partner loop): the status of its own leads, by its own reference. Asked of
 * the access policy first (client/access-policy.ts), and audited like every other read, refusals included.
 */
import type { AccessAuditEntry } from '../schemas/audit';
import type { Caller } from '../schemas/caller';
import type { LeadState } from '../schemas/lead';
import type { PartnerLeadView } from '../schemas/partner';
import { mayReadPartnerLead } from './access-policy';
import { ForbiddenError } from './guarded-leads';
import { LeadNotFoundError } from './errors';

export interface PartnerLeadLookup {
  find(partnerId: string, reference: string): Promise<{ leadId: string; state: LeadState } | undefined>;
}

/** No lead with this reference for this partner. The reference is the partner's own; the answer does not repeat it. */
export class PartnerLeadNotFoundError extends LeadNotFoundError {
  override readonly name: string = 'PartnerLeadNotFoundError';
  constructor() {
    super('(reference)');
    this.message = 'no lead of yours has this reference';
  }
}

export class GuardedPartnerLeads {
  constructor(
    private readonly leads: PartnerLeadLookup,
    private readonly audit: { record(entry: AccessAuditEntry): Promise<void> },
  ) {}

  async read(caller: Caller, reference: string): Promise<PartnerLeadView> {
    const found =
      caller.partner !== undefined && caller.roles.includes('partner')
        ? await this.leads.find(caller.partner, reference)
        : undefined;
    const decision = mayReadPartnerLead(
      caller,
      found === undefined ? undefined : { partnerId: found.state.partner?.id ?? null },
    );
    if (!decision.allowed || found === undefined) {
      const status = decision.allowed ? 404 : decision.status;
      const reason = decision.allowed ? 'no such lead' : decision.reason;
      // The reference is not recorded: it is the partner's, and sealed wherever else Leadline keeps it.
      await this.audit.record({
        actor: caller.subject,
        leadId: null,
        action: 'ReadPartnerLead',
        outcome: 'refused',
        detail: { status, reason },
      });
      if (status === 404) throw new PartnerLeadNotFoundError();
      throw new ForbiddenError(reason);
    }
    await this.audit.record({
      actor: caller.subject,
      leadId: found.leadId,
      action: 'ReadPartnerLead',
      outcome: 'read',
      detail: { partner: caller.partner },
    });
    return partnerView(reference, found.state);
  }
}

/** The status facts a partner may know, from the lead's partner clock and nothing else of its state. */
export function partnerView(reference: string, state: LeadState): PartnerLeadView {
  const partner = state.partner;
  const milestoneAt = (name: string) => partner?.milestones.find((m) => m.milestone === name)?.at ?? null;
  const closedMilestone = partner?.milestones.find((m) => m.milestone === 'lead_closed');
  const closed =
    closedMilestone === undefined || closedMilestone.category === null
      ? null
      : { at: closedMilestone.at, category: closedMilestone.category };
  const view = {
    reference,
    receivedAt: state.receivedAt,
    acknowledgedAt: partner?.acknowledgedAt ?? null,
    acknowledgementDueAt: partner?.dueAt ?? state.receivedAt,
    interviewScheduledAt: milestoneAt('interview_scheduled'),
    interviewHeldAt: milestoneAt('interview_held'),
    caseOpenedAt: milestoneAt('case_opened'),
    closed,
  };
  const status: PartnerLeadView['status'] =
    closed !== null
      ? 'closed'
      : view.caseOpenedAt !== null
        ? 'case_opened'
        : view.interviewHeldAt !== null
          ? 'interview_held'
          : view.interviewScheduledAt !== null
            ? 'interview_scheduled'
            : view.acknowledgedAt !== null
              ? 'acknowledged'
              : 'received';
  return { ...view, status };
}
