import type { Lifecycle } from '../workload';
import { summarize, type LatencySummary } from '../stats';

/** One command at a time on an otherwise idle system, round-robin over a few open targets. */
export async function measureSequentialCommands(
  lifecycle: Lifecycle,
  targets: string[],
  count: number,
  warmup = Math.min(20, count),
): Promise<LatencySummary> {
  const latencies: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const target = targets[i % targets.length] as string;
    const start = performance.now();
    await lifecycle.note(target);
    if (i >= warmup) latencies.push(performance.now() - start);
  }
  return summarize(latencies);
}

/**
 * The same AddNote through the HTTP API, as a person's client sends it: a bearer token verified against the provider's
 * keys, the access check (the lead's office), the command, and its audit row. Against `measureSequentialCommands`
 * on the same targets, the difference is what the HTTP edge and access control add to a command.
 */
export async function measureHttpCommands(
  apiUrl: string,
  authorization: string,
  targets: string[],
  count: number,
  warmup = Math.min(20, count),
): Promise<LatencySummary> {
  const latencies: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const target = targets[i % targets.length] as string;
    const start = performance.now();
    const res = await fetch(`${apiUrl}/leads/${target}/commands/AddNote`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { text: 'Benchmark note: partner called back.' } }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`AddNote over HTTP answered ${res.status}`);
    if (i >= warmup) latencies.push(performance.now() - start);
  }
  return summarize(latencies);
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
  const time = async (path: string, headers: Record<string, string>) => {
    const latencies: number[] = [];
    for (let i = 0; i < 20 + count; i++) {
      const start = performance.now();
      const res = await fetch(`${apiUrl}${path}`, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
      if (i >= 20) latencies.push(performance.now() - start);
    }
    return summarize(latencies);
  };
  return { healthz: await time('/healthz', {}), me: await time('/me', { authorization }) };
}
