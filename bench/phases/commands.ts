import type { Lifecycle } from '../workload';
import { summarize, type LatencySummary } from '../stats';

/** Times `send`, one call at a time, round-robin over `targets`, the first `warmup` calls left out. */
async function timeSequentially(
  send: (target: string) => Promise<void>,
  targets: string[],
  count: number,
  warmup = Math.min(20, count),
): Promise<LatencySummary> {
  const latencies: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const target = targets[i % targets.length] as string;
    const start = performance.now();
    await send(target);
    if (i >= warmup) latencies.push(performance.now() - start);
  }
  return summarize(latencies);
}

/** A GET or POST that must answer 200; its body is read, as a client reads it. */
async function call(url: string, init: RequestInit): Promise<void> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${init.method ?? 'GET'} ${new URL(url).pathname} answered ${res.status}`);
}

/** One command at a time on an otherwise idle system, round-robin over a few open targets. */
export function measureSequentialCommands(
  lifecycle: Lifecycle,
  targets: string[],
  count: number,
): Promise<LatencySummary> {
  return timeSequentially((target) => lifecycle.note(target), targets, count);
}

/**
 * The same AddNote through the HTTP API, as a person's client sends it: a bearer token verified against the provider's
 * keys, the access check (the lead's office), the command, and its audit row. Against `measureSequentialCommands`
 * on the same targets, the difference is what the HTTP edge and access control add to a command.
 */
export function measureHttpCommands(
  apiUrl: string,
  authorization: string,
  targets: string[],
  count: number,
): Promise<LatencySummary> {
  const body = JSON.stringify({ data: { text: 'Benchmark note: partner called back.' } });
  const headers = { authorization, 'content-type': 'application/json' };
  return timeSequentially(
    (target) => call(`${apiUrl}/leads/${target}/commands/AddNote`, { method: 'POST', headers, body }),
    targets,
    count,
  );
}

/**
 * What the HTTP edge costs by itself: `GET /healthz` (no token, nothing read) and `GET /me` (the token verified,
 * nothing read, nothing audited), one request at a time. `/me` less `/healthz` is what authentication adds.
 */
export async function measureHttpFloor(
  apiUrl: string,
  authorization: string,
  count: number,
): Promise<{ healthz: LatencySummary; me: LatencySummary }> {
  const once = ['-'];
  return {
    healthz: await timeSequentially(() => call(`${apiUrl}/healthz`, {}), once, count),
    me: await timeSequentially(() => call(`${apiUrl}/me`, { headers: { authorization } }), once, count),
  };
}
