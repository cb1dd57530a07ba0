/**
 * The reports as an authenticated caller may read them: the access policy says whether it may (`readReports`) and
 * which offices' leads it counts (client/access-policy.ts), and every read and refusal is recorded in the audit log,
 * as every read through the API is (a list of leads holds no personal data either, and is audited): which offices an
 * office's escalations and lateness were shown to is need-to-know too.
 */
import type { AccessAuditEntry } from '../schemas/audit';
import type { Caller } from '../schemas/caller';
import {
  distributionOf,
  type DurationsReport,
  type EscalationsQuery,
  type EscalationsReport,
  type OfficesReport,
  type ReportPeriodQuery,
  type SlaReport,
} from '../schemas/reports';
import type { ReportOffices, ReportStore } from '../activities/reports';
import { mayDo, reportScope } from './access-policy';
import { InvalidInputError } from './errors';
import { ForbiddenError } from './guarded-leads';

/** A period's length when the caller names none. */
export const DEFAULT_PERIOD_MS = 30 * 86_400_000;

export interface ReportAudit {
  record(entry: AccessAuditEntry): Promise<void>;
}

/** The offices of the directory, in its order: the offices report lists each one in the caller's scope. */
export type OfficeNames = readonly { id: string; name: string }[];

export class GuardedReports {
  constructor(
    private readonly store: ReportStore,
    private readonly audit: ReportAudit,
    private readonly directory: OfficeNames,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async offices(caller: Caller): Promise<OfficesReport> {
    const scope = await this.scope(caller, 'offices');
    const listed = this.directory.filter((office) => scope === 'all' || scope.includes(office.id));
    const counted = await this.store.officeCounts(listed.map((office) => office.id));
    await this.read(caller, 'offices', { offices: listed.length });
    return {
      generatedAt: counted.generatedAt.toISOString(),
      offices: listed.map((office, index) => {
        const c = counted.offices[index];
        if (c?.office !== office.id) throw new Error('the office counts came back out of order');
        return {
          office: office.id,
          name: office.name,
          open: c.open,
          overdue: c.overdue,
          escalated: { level1: c.level1, level2: c.level2, level3: c.level3 },
          paused: c.paused,
        };
      }),
    };
  }

  async sla(caller: Caller, query: ReportPeriodQuery): Promise<SlaReport> {
    const offices = countedOffices(await this.scope(caller, 'sla'), query.office);
    const { from, to } = resolvePeriod(query, this.now());
    const stages = await this.store.stageSla(from, to, offices);
    await this.read(caller, 'sla', { from: from.toISOString(), to: to.toISOString(), office: query.office ?? null });
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      stages: stages.map((s) => ({ ...s, share: s.finished === 0 ? null : s.metSla / s.finished })),
    };
  }

  async durations(caller: Caller, query: ReportPeriodQuery): Promise<DurationsReport> {
    const offices = countedOffices(await this.scope(caller, 'durations'), query.office);
    const { from, to } = resolvePeriod(query, this.now());
    const computed = await this.store.durations(from, to, offices);
    await this.read(caller, 'durations', {
      from: from.toISOString(),
      to: to.toISOString(),
      office: query.office ?? null,
    });
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      intakeToInterview: distributionOf(computed.intakeToInterview),
      intakeToDecision: distributionOf(computed.intakeToDecision),
    };
  }

  async escalations(caller: Caller, query: EscalationsQuery): Promise<EscalationsReport> {
    const offices = countedOffices(await this.scope(caller, 'escalations'), query.office);
    const weeks = await this.store.escalationsPerWeek(query.weeks, offices);
    await this.read(caller, 'escalations', { weeks: query.weeks, office: query.office ?? null });
    return { weeks };
  }

  /** The caller's report scope, or a refusal recorded and thrown (403 naming what its roles allow). */
  private async scope(caller: Caller, report: string): Promise<'all' | readonly string[]> {
    const decision = mayDo(caller, 'readReports');
    if (!decision.allowed) {
      await this.audit.record({
        actor: caller.subject,
        leadId: null,
        action: 'ReadReport',
        outcome: 'refused',
        detail: { report, status: decision.status, reason: decision.reason },
      });
      throw new ForbiddenError(decision.reason);
    }
    return reportScope(caller);
  }

  private async read(caller: Caller, report: string, detail: Record<string, unknown>): Promise<void> {
    await this.audit.record({
      actor: caller.subject,
      leadId: null,
      action: 'ReadReport',
      outcome: 'read',
      detail: { report, ...detail },
    });
  }
}

/**
 * The leads a report counts: the caller's scope narrowed to `office` when one is asked for. An office outside the
 * scope counts nothing (an empty list), as the lead list shows nothing of it, rather than telling it apart by a 403.
 */
export function countedOffices(scope: 'all' | readonly string[], office: string | undefined): ReportOffices {
  if (office === undefined) return scope === 'all' ? null : scope;
  return scope === 'all' || scope.includes(office) ? [office] : [];
}

/**
 * The period [from, to) a report covers: `to` defaults to now, `from` to 30 days before `to`. A `from` after the
 * default `to` (a date in the future) is refused, naming it, as `to` before `from` is.
 */
export function resolvePeriod(query: { from?: string; to?: string }, now: Date): { from: Date; to: Date } {
  const to = query.to === undefined ? now : new Date(query.to);
  const from = query.from === undefined ? new Date(to.getTime() - DEFAULT_PERIOD_MS) : new Date(query.from);
  if (to.getTime() < from.getTime()) {
    const path = query.to === undefined ? 'query.from' : 'query.to';
    const message = query.to === undefined ? 'is after now (the default to)' : 'is before from';
    throw new InvalidInputError('the report period is not valid', [{ path, message }]);
  }
  return { from, to };
}
