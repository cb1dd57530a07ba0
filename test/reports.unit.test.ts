import { describe, expect, it } from 'vitest';
import { countedOffices, DEFAULT_PERIOD_MS, resolvePeriod } from '../client/guarded-reports';
import { InvalidInputError } from '../client/errors';
import { SEALED_EVENT_FIELDS } from '../activities/field-crypto';
import { REPORTED_EVENT_FIELDS } from '../activities/reports';
import {
  distributionOf,
  durationBucketBoundsMs,
  durationBucketLabels,
  EscalationsQuery,
  OfficesReportQuery,
  ReportPeriodQuery,
} from '../schemas/reports';

const D = 86_400_000;

describe('duration buckets', () => {
  it('are ≤ 1, 2, 3, 5, 7, 14 days and above, labelled as people read them', () => {
    expect(durationBucketBoundsMs).toEqual([1, 2, 3, 5, 7, 14].map((days) => days * D));
    expect(durationBucketLabels).toEqual(['≤ 1 d', '≤ 2 d', '≤ 3 d', '≤ 5 d', '≤ 7 d', '≤ 14 d', '> 14 d']);
  });

  it('a distribution lists every bucket, zeros included, and rounds the percentiles to whole milliseconds', () => {
    expect(
      distributionOf({ count: 3, p50Ms: 1.5 * D + 0.4, p90Ms: 20 * D - 0.6, bucketCounts: { 1: 2, 6: 1 } }),
    ).toEqual({
      count: 3,
      p50Ms: 1.5 * D,
      p90Ms: 20 * D - 1,
      buckets: [
        { upToMs: D, label: '≤ 1 d', count: 0 },
        { upToMs: 2 * D, label: '≤ 2 d', count: 2 },
        { upToMs: 3 * D, label: '≤ 3 d', count: 0 },
        { upToMs: 5 * D, label: '≤ 5 d', count: 0 },
        { upToMs: 7 * D, label: '≤ 7 d', count: 0 },
        { upToMs: 14 * D, label: '≤ 14 d', count: 0 },
        { upToMs: null, label: '> 14 d', count: 1 },
      ],
    });
  });

  it('an empty distribution has no percentiles', () => {
    const empty = distributionOf({ count: 0, p50Ms: null, p90Ms: null, bucketCounts: {} });
    expect(empty).toMatchObject({ count: 0, p50Ms: null, p90Ms: null });
    expect(empty.buckets.map((b) => b.count)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('report queries', () => {
  const issuePaths = (result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) =>
    result.error?.issues.map((i) => i.path.join('.'));

  it('name each unknown parameter', () => {
    expect(issuePaths(ReportPeriodQuery.safeParse({ from: '2026-01-01T00:00:00Z', ofice: 'X', agent: 'y' }))).toEqual([
      'ofice',
      'agent',
    ]);
    expect(issuePaths(OfficesReportQuery.safeParse({ office: 'HSI-NEWARK' }))).toEqual(['office']);
    expect(issuePaths(EscalationsQuery.safeParse({ week: '3' }))).toEqual(['week']);
  });

  it('take ISO instants with an offset, and refuse anything else naming the field', () => {
    expect(ReportPeriodQuery.safeParse({ from: '2026-01-01T00:00:00+01:00' }).success).toBe(true);
    expect(issuePaths(ReportPeriodQuery.safeParse({ from: 'yesterday' }))).toEqual(['from']);
    expect(issuePaths(ReportPeriodQuery.safeParse({ to: '2026-01-01' }))).toEqual(['to']);
    expect(
      issuePaths(ReportPeriodQuery.safeParse({ from: '2026-02-01T00:00:00Z', to: '2026-01-31T23:59:59Z' })),
    ).toEqual(['to']);
  });

  it('default to twelve weeks, and take 1 to 104', () => {
    expect(EscalationsQuery.parse({})).toEqual({ weeks: 12 });
    expect(EscalationsQuery.parse({ weeks: '104' })).toEqual({ weeks: 104 });
    for (const weeks of ['0', '105', '1.5', 'many']) expect(EscalationsQuery.safeParse({ weeks }).success).toBe(false);
  });
});

describe('a report’s period', () => {
  const now = new Date('2026-12-01T12:00:00Z');

  it('defaults to the 30 days before now, or before the given end', () => {
    expect(resolvePeriod({}, now)).toEqual({ from: new Date(now.getTime() - DEFAULT_PERIOD_MS), to: now });
    expect(resolvePeriod({ to: '2026-06-30T00:00:00Z' }, now)).toEqual({
      from: new Date('2026-05-31T00:00:00Z'),
      to: new Date('2026-06-30T00:00:00Z'),
    });
    expect(resolvePeriod({ from: '2026-11-01T00:00:00Z' }, now)).toEqual({
      from: new Date('2026-11-01T00:00:00Z'),
      to: now,
    });
  });

  it('refuses a start after now when no end is given, naming from', () => {
    const future = () => resolvePeriod({ from: '2026-12-02T00:00:00Z' }, now);
    expect(future).toThrow(InvalidInputError);
    try {
      future();
    } catch (error) {
      expect((error as InvalidInputError).issues).toEqual([
        { path: 'query.from', message: 'is after now (the default to)' },
      ]);
    }
  });
});

describe('the offices a report counts', () => {
  it('is the caller’s scope, narrowed to an office asked for, and nothing for one outside it', () => {
    expect(countedOffices('all', undefined)).toBeNull();
    expect(countedOffices('all', 'HSI-NEWARK')).toEqual(['HSI-NEWARK']);
    expect(countedOffices(['HSI-NEWARK', 'HSI-NEWYORK'], undefined)).toEqual(['HSI-NEWARK', 'HSI-NEWYORK']);
    expect(countedOffices(['HSI-NEWARK'], 'HSI-NEWARK')).toEqual(['HSI-NEWARK']);
    expect(countedOffices(['HSI-NEWARK'], 'HSI-GULFCOAST')).toEqual([]);
    expect(countedOffices([], undefined)).toEqual([]);
  });
});

describe('what the reports read of the log', () => {
  it('stays in clear: no field the SQL reads is sealed at rest', () => {
    const sealed = new Set(Object.values(SEALED_EVENT_FIELDS).flat());
    expect(REPORTED_EVENT_FIELDS.filter((field) => sealed.has(field))).toEqual([]);
  });
});
