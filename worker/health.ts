import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Throws (or rejects) when what it checks is not healthy. */
export type HealthCheck = () => unknown;

export interface HealthServer {
  url: string;
  stop(): Promise<void>;
}

/** A probe that waits longer than this has its answer: not healthy. */
const CHECK_TIMEOUT_MS = 2_000;

/**
 * The health endpoint of a process without the HTTP API (LEADLINE_HEALTH_ADDRESS): `GET /healthz` answers 200 while
 * every check passes, 503 naming the ones that failed. A container's HEALTHCHECK and Kubernetes' probes ask it; an
 * answer names checks and error codes only, never a message that could quote data.
 */
export async function startHealthServer(address: string, checks: Record<string, HealthCheck>): Promise<HealthServer> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator);
  const port = Number(address.slice(separator + 1));
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/healthz') {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    void runChecks(checks).then((results) => {
      const ok = Object.values(results).every((result) => result === 'ok');
      response
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks: results }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    url: `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/healthz`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function runChecks(checks: Record<string, HealthCheck>): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, string]> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(check),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })),
              CHECK_TIMEOUT_MS,
            );
          }),
        ]);
        return [name, 'ok'];
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        return [name, typeof code === 'string' ? `failed (${code})` : 'failed'];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(entries);
}
