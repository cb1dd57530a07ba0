import type pg from 'pg';
import { summarize, type LatencySummary } from '../stats';

export interface ListResult {
  latencyMs: LatencySummary;
  rows: number;
  overdueRows: number;
  /** Items in one page of the answer (the API's default limit). */
  pageItems: number;
}

/** GET /leads?overdue=true, one request at a time, over whatever the read model holds by now. */
export async function measureList(options: {
  apiUrl: string;
  /** A supervisor's `Authorization` (HQ HSTU: every office). */
  authorization: string;
  pool: pg.Pool;
  requests: number;
}): Promise<ListResult> {
  const url = `${options.apiUrl}/leads?overdue=true`;
  const latencies: number[] = [];
  let pageItems = 0;
  const warmup = Math.min(20, options.requests);
  for (let i = 0; i < warmup + options.requests; i++) {
    const start = performance.now();
    const response = await fetch(url, { headers: { authorization: options.authorization } });
    const body = (await response.json()) as { items?: unknown[] };
    const end = performance.now();
    if (response.status !== 200) throw new Error(`GET /leads?overdue=true answered ${response.status}`);
    pageItems = body.items?.length ?? 0;
    if (i >= warmup) latencies.push(end - start);
  }
  const { rows } = await options.pool.query<{ rows: number; overdue: number }>(
    `SELECT count(*)::int AS rows,
            count(*) FILTER (WHERE status NOT IN ('case_opened', 'closed') AND NOT sla_paused AND stage_deadline < now())::int AS overdue
       FROM leads`,
  );
  return {
    latencyMs: summarize(latencies),
    rows: rows[0]?.rows ?? 0,
    overdueRows: rows[0]?.overdue ?? 0,
    pageItems,
  };
}
