import type pg from 'pg';
import { cpuMeter, type CpuPct } from '../procfs';
import { round, sleep, summarize, until, type LatencySummary } from '../stats';
import { routableIntake } from '../workload';

export interface IntakeResult {
  offeredRate: number;
  seconds: number;
  sent: number;
  ok: number;
  /** `accepted`: each request asked `Prefer: respond-async` (202 once Temporal holds the lead); `received`: 201. */
  wait: 'accepted' | 'received';
  /** Answered 429 (the API's in-flight limit): refused at once, nothing started; a caller retries. */
  refused: number;
  /** Anything else that was not the answer asked for (202 or 201), refusals not included. */
  errors: number;
  firstErrors: string[];
  /**
   * From the instant each request was due to be sent to its answer, whatever the answer: what a caller on schedule
   * sees. A failed request counts with the time it took to fail (a timeout with REQUEST_TIMEOUT_MS).
   */
  latencyMs: LatencySummary;
  /** The same over the answers asked for only. */
  okLatencyMs: LatencySummary;
  /** From the instant it was actually sent; differs from latencyMs only when this process fell behind. */
  serviceMs: LatencySummary;
  /** How late this process was in sending, p99: large values mean the bench, not the API, limited the rate. */
  sendLagP99Ms: number;
  /** Requests given up after REQUEST_TIMEOUT_MS: an overloaded API, and a lower bound on the true tail. */
  timedOut: number;
  /** Time after the last answer until every lead answered for was recorded, validated and routed: none lost. */
  settleSeconds: number;
  leadIds: string[];
  cpuPct: CpuPct;
}

const REQUEST_TIMEOUT_MS = 60_000;

/** Open loop: POST /leads at a fixed rate whatever the answers, so a slow server cannot slow the offered load. */
export async function measureIntake(options: {
  apiUrl: string;
  /** The intake service's `Authorization`. */
  authorization: string;
  pool: pg.Pool;
  rate: number;
  seconds: number;
  wait: 'accepted' | 'received';
  leadlinePid: number;
}): Promise<IntakeResult> {
  const expected = options.wait === 'accepted' ? 202 : 201;
  const prefer: Record<string, string> = options.wait === 'accepted' ? { prefer: 'respond-async' } : {};
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const interval = 1000 / options.rate;
  const latencies: number[] = [];
  const okLatencies: number[] = [];
  const service: number[] = [];
  const lags: number[] = [];
  const leadIds: string[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let refused = 0;
  let timedOut = 0;
  const bodies = Array.from({ length: total }, () => JSON.stringify(routableIntake('HTTP')));

  const send = async (body: string, due: number) => {
    const sentAt = performance.now();
    lags.push(sentAt - due);
    try {
      const response = await fetch(`${options.apiUrl}/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: options.authorization, ...prefer },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      if (response.status === 429) {
        refused++;
        return;
      }
      if (response.status !== expected) {
        throw new Error(`POST /leads answered ${response.status}: ${text.slice(0, 200)}`);
      }
      okLatencies.push(performance.now() - due);
      leadIds.push((JSON.parse(text) as { leadId: string }).leadId);
    } catch (error) {
      errors++;
      if ((error as Error).name === 'TimeoutError') timedOut++;
      if (firstErrors.length < 5) firstErrors.push((error as Error).message);
    } finally {
      // Every request counts, answered or failed, with the time it took.
      const end = performance.now();
      latencies.push(end - due);
      service.push(end - sentAt);
    }
  };

  const meter = cpuMeter(options.leadlinePid);
  const start = performance.now() + 20;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    await sleep(due - performance.now());
    inFlight.push(send(bodies[i] as string, due));
  }
  await Promise.all(inFlight);
  const cpuPct = meter();
  const answered = performance.now();
  // Quiet again before the next phase: every answered lead routed, and none of those given up still arriving.
  let lastTotal = -1;
  await until(
    'intake leads routed',
    async () => {
      const { rows } = await options.pool.query<{ assigned: number; received: number; total: number }>(
        `SELECT count(*) FILTER (WHERE lead_id = ANY($1::uuid[]) AND status = 'assigned')::int AS assigned,
                count(*) FILTER (WHERE status = 'received')::int AS received,
                count(*)::int AS total
           FROM leads`,
        [leadIds],
      );
      const now = rows[0] ?? { assigned: 0, received: 0, total: 0 };
      const stable = now.total === lastTotal;
      lastTotal = now.total;
      return { ...now, stable };
    },
    (s) => s.assigned >= leadIds.length && s.received === 0 && (timedOut === 0 || s.stable),
    { timeoutMs: 300_000, intervalMs: timedOut === 0 ? 100 : 2000 },
  );
  const lagSummary = summarize(lags);
  return {
    offeredRate: options.rate,
    seconds: options.seconds,
    wait: options.wait,
    sent: total,
    ok: okLatencies.length,
    refused,
    errors,
    timedOut,
    firstErrors,
    latencyMs: summarize(latencies),
    okLatencyMs: summarize(okLatencies),
    serviceMs: summarize(service),
    sendLagP99Ms: lagSummary.p99,
    settleSeconds: round((performance.now() - answered) / 1000, 2),
    leadIds,
    cpuPct,
  };
}
