#!/usr/bin/env node
// The image's HEALTHCHECK (Dockerfile, docker-compose.yml): asks the endpoint of the role this container runs.
// An API (LEADLINE_ROLE=api) is healthy while GET /readyz answers 200: Temporal, PostgreSQL, a worker polling the lead
// task queue and every key the data needs. A worker while GET /healthz on LEADLINE_HEALTH_ADDRESS answers 200: its
// worker runs and PostgreSQL answers (worker/health.ts). `all` asks both. Plain JavaScript with no imports: it runs
// every few seconds, so it must start in milliseconds.
const role = process.env.LEADLINE_ROLE || 'all';
const urls = [];
if (role !== 'worker') urls.push(`http://127.0.0.1:${process.env.PORT || '3000'}/readyz`);
if (role !== 'api') {
  const address = process.env.LEADLINE_HEALTH_ADDRESS;
  if (!address) {
    console.error('leadline-healthcheck: a worker needs LEADLINE_HEALTH_ADDRESS (host:port) to be checked');
    process.exit(1);
  }
  const port = address.slice(address.lastIndexOf(':') + 1);
  urls.push(`http://127.0.0.1:${port}/healthz`);
}

let healthy = true;
for (const url of urls) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(4_000) });
    const body = await response.text();
    if (!response.ok) {
      healthy = false;
      console.error(`${url}: ${response.status} ${body}`);
    }
  } catch (error) {
    healthy = false;
    console.error(`${url}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
process.exit(healthy ? 0 : 1);
