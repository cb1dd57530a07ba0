import type pg from 'pg';
import { simulatePolicies, type SimulationReport, type SimulationRun } from './policy-simulation';
import { durationBucketBoundsMs, reportStages } from '../schemas/reports';
import type { SlaStage } from '../schemas/lead';

/*
 * The reports' SQL, over the `leads` read model and the event log. Everything read here is stored in clear on purpose:
 * event types, `metadata.at`, offices, levels, stage budgets (`slaBudgetMs`) and the clock's time used at a pause
 * (`usedMs`). The sealed fields (activities/field-crypto.ts) are never touched, and nothing leaves but counts.
 *
 * Offices are the leads' offices now (the read model's), as the lead list scopes them: a report counts exactly the
 * leads its reader may list, and a lead moved to another office takes its history with it.
 */

/** The leads a report counts: those of these offices, or every lead (unassigned ones included) when null. */
export type ReportOffices = readonly string[] | null;

export interface OfficeCounts {
  office: string;
  open: number;
  overdue: number;
  level1: number;
  level2: number;
  level3: number;
  paused: number;
}

export interface StageCounts {
  stage: SlaStage;
  finished: number;
  metSla: number;
}

export interface ComputedDistribution {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
  /** Durations in each bucket by index (see schemas/reports.ts); absent buckets hold none. */
  bucketCounts: Record<number, number>;
}

export interface WeekCounts {
  weekStart: string;
  level1: number;
  level2: number;
  level3: number;
}

/** The event that starts each stage's clock, each recording the stage's budget (`slaBudgetMs`). */
const stageStarts: Record<SlaStage, string> = {
  validation: 'LeadReceived',
  assignment: 'LeadValidated',
  interview_request: 'LeadAssigned',
  interview: 'InterviewRequested',
  disposition: 'InterviewCompleted',
};
/** Every event that moves a lead into a stage or out of its last one: the boundaries between stages. */
const boundaries = [...Object.values(stageStarts), 'LeadRejected', 'CaseOpened', 'LeadClosed'];

const sqlList = (values: readonly string[]) => values.map((value) => `'${value}'`).join(', ');
const stageOfStart = `CASE s.start_type ${reportStages.map((stage) => `WHEN '${stageStarts[stage]}' THEN '${stage}'`).join(' ')} END`;

/** The fields the reports read, all in clear in the log (test/reports.unit.test.ts keeps them out of the sealed ones). */
export const REPORTED_EVENT_FIELDS = ['slaBudgetMs', 'usedMs', 'level', 'office', 'priority'] as const;

/** `lead_id`s in scope, as a CTE over `leads` taking the offices as parameter `$n` (NULL: every lead). */
const scopedLeads = (param: string) =>
  `scoped AS (SELECT lead_id FROM leads WHERE ${param}::text[] IS NULL OR office = ANY(${param}::text[]))`;

const at = `(e.metadata ->> 'at')::timestamptz`;
const msBetween = (later: string, earlier: string) => `(extract(epoch FROM ${later} - ${earlier}) * 1000)`;

/**
 * For every stage that ended, the time its clock used: the domain's own rule (domain/sla.ts) replayed over the events'
 * records. A stage starts with its clock running, or stopped when the lead was paused before it began; a pause records
 * the time used so far (`usedMs`), a resume restarts the clock from it, and a change of priority replaces the budget.
 * So the time used at the stage's end is the last pause's record while paused, that record plus the time since the
 * last resume while running, and otherwise the time since the start. The stage met its SLA when that is within the
 * last budget recorded for it: it ended by its deadline, however that deadline moved with pauses.
 */
const endedStagesSql = `
  ${scopedLeads('$3')},
  ev AS (
    -- A stabilisation pause stops the clock as a pause does; a safety record that raised the priority re-budgets the
    -- stage as a priority change does (its priority is {from, to, slaBudgetMs}, or null when it raised nothing).
    SELECT e.lead_id, e.seq,
      CASE e.type WHEN 'StabilisationPaused' THEN 'SlaPaused' WHEN 'SafetyRecorded' THEN 'PriorityChanged'
        ELSE e.type END AS type,
      ${at} AS at,
      (CASE WHEN e.type = 'SafetyRecorded' THEN e.data -> 'priority' ->> 'slaBudgetMs'
        ELSE e.data ->> 'slaBudgetMs' END)::float8 AS budget_ms,
      (e.data ->> 'usedMs')::float8 AS used_ms,
      e.type IN (${sqlList(boundaries)}) AS boundary
    FROM lead_events e JOIN scoped USING (lead_id)
    WHERE (e.type IN (${sqlList([...boundaries, 'SlaPaused', 'SlaResumed', 'PriorityChanged', 'StabilisationPaused'])})
        OR (e.type = 'SafetyRecorded' AND jsonb_typeof(e.data -> 'priority') = 'object'))
      -- Only leads a stage of which ended in the period: their whole history, the others not at all.
      AND e.lead_id IN (
        SELECT e.lead_id FROM lead_events e
        WHERE e.type IN (${sqlList(boundaries.filter((type) => type !== 'LeadReceived'))}) AND ${at} >= $1 AND ${at} < $2
      )
  ),
  numbered AS (
    SELECT ev.*,
      count(*) FILTER (WHERE boundary) OVER w AS segment,
      count(*) FILTER (WHERE type = 'SlaPaused') OVER w > count(*) FILTER (WHERE type = 'SlaResumed') OVER w AS paused
    FROM ev
    WINDOW w AS (PARTITION BY lead_id ORDER BY seq)
  ),
  segments AS (
    SELECT lead_id, segment,
      min(type) FILTER (WHERE boundary) AS start_type,
      min(at) FILTER (WHERE boundary) AS start_at,
      bool_or(paused) FILTER (WHERE boundary) AS paused_at_start,
      (array_agg(budget_ms ORDER BY seq DESC) FILTER (WHERE budget_ms IS NOT NULL))[1] AS budget_ms,
      (array_agg(type ORDER BY seq DESC) FILTER (WHERE type IN ('SlaPaused', 'SlaResumed')))[1] AS last_clock,
      (array_agg(at ORDER BY seq DESC) FILTER (WHERE type IN ('SlaPaused', 'SlaResumed')))[1] AS last_clock_at,
      (array_agg(used_ms ORDER BY seq DESC) FILTER (WHERE type = 'SlaPaused'))[1] AS paused_used_ms
    FROM numbered
    GROUP BY lead_id, segment
  ),
  ended AS (
    SELECT ${stageOfStart} AS stage, s.budget_ms, n.start_at AS end_at,
      CASE
        WHEN s.last_clock = 'SlaPaused' THEN s.paused_used_ms
        WHEN s.last_clock = 'SlaResumed' THEN coalesce(s.paused_used_ms, 0) + ${msBetween('n.start_at', 's.last_clock_at')}
        WHEN s.paused_at_start THEN 0
        ELSE ${msBetween('n.start_at', 's.start_at')}
      END AS used_ms
    FROM segments s JOIN segments n ON n.lead_id = s.lead_id AND n.segment = s.segment + 1
    WHERE s.start_type IN (${sqlList(Object.values(stageStarts))})
  )`;

/** Report queries over `pool`'s database. */
export function createReportStore(pool: pg.Pool) {
  return {
    /** The SLA policy simulator over the whole log (activities/policy-simulation.ts); plain fields only. */
    simulate: (run: SimulationRun): Promise<SimulationReport> => simulatePolicies(pool, run),

    /** Open, overdue, escalated and paused leads of each office named, zeros included, and the database's now. */
    async officeCounts(offices: readonly string[]): Promise<{ generatedAt: Date; offices: OfficeCounts[] }> {
      const { rows } = await pool.query<OfficeCounts & { ord: number; generated_at: Date }>(
        `SELECT o.office, o.ord::int AS ord, now() AS generated_at,
            count(l.lead_id)::int AS open,
            count(l.lead_id) FILTER (WHERE NOT l.sla_paused AND l.stage_deadline < now())::int AS overdue,
            count(l.lead_id) FILTER (WHERE l.escalation_level = 1)::int AS level1,
            count(l.lead_id) FILTER (WHERE l.escalation_level = 2)::int AS level2,
            count(l.lead_id) FILTER (WHERE l.escalation_level = 3)::int AS level3,
            count(l.lead_id) FILTER (WHERE l.sla_paused)::int AS paused
          FROM unnest($1::text[]) WITH ORDINALITY AS o(office, ord)
          LEFT JOIN leads l ON l.office = o.office AND l.status NOT IN ('case_opened', 'closed')
          GROUP BY o.office, o.ord
          ORDER BY o.ord`,
        [[...offices]],
      );
      const generatedAt = rows[0]?.generated_at ?? (await pool.query<{ now: Date }>('SELECT now()')).rows[0]?.now;
      if (generatedAt === undefined) throw new Error('PostgreSQL answered no time');
      return { generatedAt, offices: rows.map(({ ord: _ord, generated_at: _at, ...counts }) => counts) };
    },

    /** Per stage, the stages that ended in [from, to) and how many of them by their deadline; stages in order. */
    async stageSla(from: Date, to: Date, offices: ReportOffices): Promise<StageCounts[]> {
      const { rows } = await pool.query<StageCounts>(
        `WITH ${endedStagesSql}
          SELECT stage, count(*)::int AS finished, count(*) FILTER (WHERE used_ms <= budget_ms)::int AS "metSla"
          FROM ended WHERE end_at >= $1 AND end_at < $2
          GROUP BY stage`,
        [from, to, offices === null ? null : [...offices]],
      );
      return reportStages.map((stage) => rows.find((row) => row.stage === stage) ?? { stage, finished: 0, metSla: 0 });
    },

    /**
     * Time from receipt to the completed interview (for interviews completed in [from, to)) and to the decision (a case
     * opened, or the lead closed by a person, in [from, to)): counts, percentiles and the fixed buckets. Rejections by
     * the automatic validation are not decisions: counted, their seconds would hide how long offices take.
     */
    async durations(
      from: Date,
      to: Date,
      offices: ReportOffices,
    ): Promise<{ intakeToInterview: ComputedDistribution; intakeToDecision: ComputedDistribution }> {
      const { rows } = await pool.query<{
        measure: 'intakeToInterview' | 'intakeToDecision';
        count: number;
        p50: number | null;
        p90: number | null;
        buckets: Record<string, number> | null;
      }>(
        `WITH ${scopedLeads('$3')},
          marks AS (
            SELECT e.lead_id,
              min(${at}) FILTER (WHERE e.type = 'LeadReceived') AS received_at,
              min(${at}) FILTER (WHERE e.type = 'InterviewCompleted') AS interviewed_at,
              min(${at}) FILTER (WHERE e.type IN ('CaseOpened', 'LeadClosed')) AS decided_at
            FROM lead_events e JOIN scoped USING (lead_id)
            WHERE e.type IN ('LeadReceived', 'InterviewCompleted', 'CaseOpened', 'LeadClosed')
            GROUP BY e.lead_id
          ),
          durations AS (
            SELECT 'intakeToInterview' AS measure, ${msBetween('interviewed_at', 'received_at')} AS ms
              FROM marks WHERE interviewed_at >= $1 AND interviewed_at < $2
            UNION ALL
            SELECT 'intakeToDecision', ${msBetween('decided_at', 'received_at')}
              FROM marks WHERE decided_at >= $1 AND decided_at < $2
          ),
          bucketed AS (
            SELECT measure, ms, (SELECT count(*) FROM unnest($4::float8[]) AS b(up_to) WHERE b.up_to < ms)::int AS bucket
            FROM durations
          ),
          per_bucket AS (SELECT measure, bucket, count(*)::int AS n FROM bucketed GROUP BY measure, bucket)
          SELECT measure, count(*)::int AS count,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
            (SELECT jsonb_object_agg(p.bucket, p.n) FROM per_bucket p WHERE p.measure = b.measure) AS buckets
          FROM bucketed b GROUP BY measure`,
        [from, to, offices === null ? null : [...offices], durationBucketBoundsMs],
      );
      const of = (measure: 'intakeToInterview' | 'intakeToDecision'): ComputedDistribution => {
        const row = rows.find((r) => r.measure === measure);
        if (row === undefined) return { count: 0, p50Ms: null, p90Ms: null, bucketCounts: {} };
        return {
          count: row.count,
          p50Ms: row.p50,
          p90Ms: row.p90,
          bucketCounts: Object.fromEntries(Object.entries(row.buckets ?? {}).map(([index, n]) => [Number(index), n])),
        };
      };
      return { intakeToInterview: of('intakeToInterview'), intakeToDecision: of('intakeToDecision') };
    },

    /** Escalations recorded in each of the last `weeks` ISO weeks (UTC, the current one included), oldest first. */
    async escalationsPerWeek(weeks: number, offices: ReportOffices): Promise<WeekCounts[]> {
      const { rows } = await pool.query<WeekCounts>(
        `WITH ${scopedLeads('$2')},
          bounds AS (SELECT date_trunc('week', now() AT TIME ZONE 'UTC') AS this_week),
          calendar AS (
            SELECT generate_series(this_week - ($1::int - 1) * interval '1 week', this_week, interval '1 week') AS week
            FROM bounds
          ),
          escalations AS (
            SELECT date_trunc('week', ${at} AT TIME ZONE 'UTC') AS week, (e.data ->> 'level')::int AS level
            FROM lead_events e JOIN scoped USING (lead_id)
            WHERE e.type = 'LeadEscalated'
              AND ${at} >= (SELECT min(week) FROM calendar) AT TIME ZONE 'UTC'
          )
          SELECT to_char(c.week, 'YYYY-MM-DD') AS "weekStart",
            count(*) FILTER (WHERE x.level = 1)::int AS level1,
            count(*) FILTER (WHERE x.level = 2)::int AS level2,
            count(*) FILTER (WHERE x.level = 3)::int AS level3
          FROM calendar c LEFT JOIN escalations x ON x.week = c.week
          GROUP BY c.week ORDER BY c.week`,
        [weeks, offices === null ? null : [...offices]],
      );
      return rows;
    },
  };
}

export type ReportStore = ReturnType<typeof createReportStore>;
