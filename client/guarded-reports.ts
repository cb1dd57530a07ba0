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
import { SimulationInputError, type SimulationReport } from '../activities/policy-simulation';
import { UNASSIGNED } from '../domain/sla-simulation';
import { OfficeId } from '../schemas/lead';
import { Duration, SlaPolicy } from '../schemas/sla-policy';
import type { SimulationRequest } from '../schemas/reports';
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
    private readonly options: {
      /** The SLA policy the workers run: what a proposed one is simulated beside. */
      inForce?: SlaPolicy;
      now?: () => Date;
    } = {},
  ) {}

  /** The simulation running now, if any (see `simulate`). */
  private simulating: Promise<void> = Promise.resolve();

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /**
   * A proposed SLA policy replayed over the whole log beside the policy in force (HQ HSTU and admins: it counts every
   * office). Without `timeScale` the proposal runs on the clock in force, as `leadline simulate` does.
   */
  async simulate(caller: Caller, request: SimulationRequest): Promise<SimulationReport> {
    const decision = mayDo(caller, 'simulatePolicies');
    if (!decision.allowed) {
      await this.audit.record({
        actor: caller.subject,
        leadId: null,
        action: 'SimulatePolicy',
        outcome: 'refused',
        detail: { status: decision.status, reason: decision.reason },
      });
      throw new ForbiddenError(decision.reason);
    }
    const inForce = this.options.inForce;
    if (inForce === undefined) throw new Error('the API was built without the SLA policy in force');
    const parsed = SlaPolicy.safeParse({ timeScale: inForce.timeScale, ...request.policy });
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: ['body', 'policy', ...issue.path.map(String)].join('.'),
        message: issue.message,
      }));
      throw new InvalidInputError('the proposed SLA policy is not valid', issues);
    }
    const windowMs = request.since === undefined ? undefined : Duration.parse(request.since);
    let office: string | undefined;
    if (request.office !== undefined) {
      office = request.office === 'unassigned' ? UNASSIGNED : request.office;
      if (office !== UNASSIGNED && !OfficeId.safeParse(office).success) {
        throw new InvalidInputError('office is not an office id', [
          { path: 'body.office', message: 'an office id such as HSI-NEWARK, or "unassigned"' },
        ]);
      }
    }
    // A simulation reads the whole log into memory: one at a time in this process, the others wait their turn.
    const turn = this.simulating.then(() => undefined);
    let done = () => undefined as void;
    this.simulating = new Promise<void>((resolve) => (done = resolve));
    await turn;
    const report = await this.store
      .simulate({
        inForce,
        proposed: parsed.data,
        ...(windowMs === undefined ? {} : { windowMs }),
        ...(office === undefined ? {} : { office }),
      })
      .catch((error: unknown) => {
        if (error instanceof SimulationInputError) throw new InvalidInputError(error.message, []);
        throw error;
      })
      .finally(done);
    await this.audit.record({
      actor: caller.subject,
      leadId: null,
      action: 'SimulatePolicy',
      outcome: 'read',
      detail: { proposedVersion: parsed.data.version, since: request.since ?? null, office: request.office ?? null },
    });
    return report;
  }

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
