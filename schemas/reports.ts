import { z } from 'zod';
import { OfficeId, slaStages, type SlaStage } from './lead';

/*
 * The reports HQ HSTU, SACs and supervisors read (GET /reports/...): counts and durations over the read model and the
 * event log, never a lead id or anything about a person. The console draws its charts from exactly these shapes.
 */

const DAY_MS = 86_400_000;

/** The fixed buckets of a duration distribution, in days: each counts durations above the previous bound, up to its own. */
export const durationBucketDays = [1, 2, 3, 5, 7, 14] as const;
export const durationBucketBoundsMs: readonly number[] = durationBucketDays.map((days) => days * DAY_MS);
/** `≤ 1 d` … `≤ 14 d`, then `> 14 d` for the open-ended last bucket. */
export const durationBucketLabels: readonly string[] = [
  ...durationBucketDays.map((days) => `≤ ${days} d`),
  `> ${durationBucketDays[durationBucketDays.length - 1]} d`,
];

/** The lifecycle's stages in order, as reports name them (the SLA policy's names). */
export const reportStages: readonly SlaStage[] = slaStages;

// Queries -------------------------------------------------------------------------------------------------------

export const ReportInstant = z.iso.datetime({ offset: true });

/**
 * `POST /reports/simulations`: a proposed SLA policy (the JSON `LEADLINE_SLA_POLICY` takes), replayed over the log
 * beside the policy in force; `since` narrows it to leads received that long ago (`90d`), `office` to one office or
 * `unassigned`.
 */
export const SimulationRequest = z
  .object({
    policy: z.record(z.string(), z.unknown()),
    since: z
      .string()
      .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'a duration such as 90d or 12h')
      .optional(),
    office: z.string().min(1).max(64).optional(),
  })
  .strict();
export type SimulationRequest = z.infer<typeof SimulationRequest>;

const Tally = z.object({
  rungs: z.record(z.string(), z.record(z.string(), z.number())),
  breaches: z.record(z.string(), z.record(z.string(), z.number())),
  /** The partner clock's rungs by office: level1 (the office supervisor told), level2 (HQ told). */
  partnerRungs: z.record(z.string(), z.record(z.string(), z.number())),
  /** Leads by office whose partner was not acknowledged within the acknowledgement budget. */
  partnerLate: z.record(z.string(), z.number()),
  idleAcknowledgements: z.number(),
});
/** What the simulator answers: as `leadline simulate --json` prints it. */
export const SimulationReportBody = z.object({
  inForceVersion: z.string(),
  proposedVersion: z.string(),
  changes: z.array(z.string()),
  since: z.string().nullable(),
  office: z.string().nullable(),
  leads: z.number(),
  events: z.number(),
  asOf: z.string(),
  recorded: Tally,
  inForce: Tally,
  proposed: Tally,
  leadsOnOtherBudgets: z.number(),
  /** Leads with a partner clock (every source but the public). */
  leadsWithPartnerClock: z.number(),
  selfCheck: z.array(
    z.object({
      leadId: z.string(),
      /** A stage, or `partner` for the partner clock's ladder. */
      stage: z.string(),
      rung: z.string(),
      recorded: z.number(),
      inForce: z.number(),
      reason: z.string(),
    }),
  ),
  runTimeMs: z.object({ read: z.number(), replay: z.number(), total: z.number() }),
});
const instant = ReportInstant;

/**
 * A query object that refuses parameters it does not know, naming each (`query.<name>`): a misspelt filter must not
 * silently widen a report.
 */
function closedQuery<T extends z.ZodRawShape>(shape: T) {
  return z.looseObject(shape).superRefine((query, context) => {
    for (const key of Object.keys(query)) {
      if (!(key in shape))
        context.addIssue({ code: 'custom', path: [key], message: 'is not a parameter of this report' });
    }
  });
}

/** `from`/`to` of a period report; `to` before `from` is refused, naming `to`. */
export const ReportPeriodQuery = closedQuery({
  /** Start of the period (inclusive); default: 30 days before `to`. */
  from: instant.optional(),
  /** End of the period (exclusive); default: now. */
  to: instant.optional(),
  /** One office; one outside the caller's offices counts nothing, as the lead list shows nothing of it. */
  office: OfficeId.optional(),
}).superRefine((query, context) => {
  if (query.from !== undefined && query.to !== undefined && Date.parse(query.to) < Date.parse(query.from)) {
    context.addIssue({ code: 'custom', path: ['to'], message: 'is before from' });
  }
});
export type ReportPeriodQuery = z.output<typeof ReportPeriodQuery>;

export const OfficesReportQuery = closedQuery({});

export const EscalationsQuery = closedQuery({
  /** How many ISO weeks (Monday to Sunday, UTC), the current one included. */
  weeks: z.coerce.number().int().min(1).max(104).default(12),
  office: OfficeId.optional(),
});
export type EscalationsQuery = z.output<typeof EscalationsQuery>;

// Answers -------------------------------------------------------------------------------------------------------

const count = z.number().int().nonnegative();

export const OfficeReport = z.object({
  office: z.string(),
  name: z.string(),
  /** Leads not yet finished (neither case opened nor closed). */
  open: count,
  /** Open leads whose running stage clock is past its deadline (a paused clock is not overdue). */
  overdue: count,
  /** Open leads by the escalation level their current stage has reached. */
  escalated: z.object({ level1: count, level2: count, level3: count }),
  /** Open leads whose SLA clock is paused. */
  paused: count,
});
export type OfficeReport = z.infer<typeof OfficeReport>;

export const OfficesReport = z.object({
  generatedAt: instant,
  /** Every office of the directory in the caller's scope, in the directory's order, zeros included. */
  offices: z.array(OfficeReport),
});
export type OfficesReport = z.infer<typeof OfficesReport>;

export const StageSla = z.object({
  stage: z.enum(slaStages),
  /** Stages that ended in the period: the lead moved on, or was closed, rejected or turned into a case. */
  finished: count,
  /** Of those, the ones that ended by their deadline (the clock's time used, pauses excluded, within its budget). */
  metSla: count,
  /** metSla / finished, from 0 to 1; null when nothing finished. */
  share: z.number().min(0).max(1).nullable(),
});
export type StageSla = z.infer<typeof StageSla>;

export const SlaReport = z.object({
  from: instant,
  to: instant,
  stages: z.array(StageSla),
});
export type SlaReport = z.infer<typeof SlaReport>;

export const DurationBucket = z.object({
  /** The bucket's upper bound (inclusive); null for the last, open-ended one. */
  upToMs: z.number().int().positive().nullable(),
  label: z.string(),
  count,
});

export const Distribution = z.object({
  count,
  /** Median and 90th percentile (linear interpolation between the nearest durations); null when count is 0. */
  p50Ms: z.number().int().nonnegative().nullable(),
  p90Ms: z.number().int().nonnegative().nullable(),
  buckets: z.array(DurationBucket),
});
export type Distribution = z.infer<typeof Distribution>;

export const DurationsReport = z.object({
  from: instant,
  to: instant,
  /** From the lead's receipt to its completed interview, for interviews completed in the period. */
  intakeToInterview: Distribution,
  /** From the lead's receipt to its case opened or its closure by a person, for decisions made in the period. */
  intakeToDecision: Distribution,
});
export type DurationsReport = z.infer<typeof DurationsReport>;

export const EscalationWeek = z.object({
  /** The week's Monday (UTC), as an ISO date. */
  weekStart: z.iso.date(),
  level1: count,
  level2: count,
  level3: count,
});

export const EscalationsReport = z.object({
  /** Oldest first, every week present. */
  weeks: z.array(EscalationWeek),
});
export type EscalationsReport = z.infer<typeof EscalationsReport>;

/**
 * A distribution as published, from what PostgreSQL computed: the count, the percentiles, and the count in each
 * bucket by its index (0: up to the first bound; the last: above every bound). Buckets nobody fell in are zeros.
 */
export function distributionOf(computed: {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  bucketCounts: Readonly<Record<number, number>>;
}): Distribution {
  const round = (value: number | null) => (value === null || computed.count === 0 ? null : Math.round(value));
  return {
    count: computed.count,
    p50Ms: round(computed.p50Ms),
    p90Ms: round(computed.p90Ms),
    buckets: durationBucketLabels.map((label, index) => ({
      upToMs: durationBucketBoundsMs[index] ?? null,
      label,
      count: computed.bucketCounts[index] ?? 0,
    })),
  };
}
