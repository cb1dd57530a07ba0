import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer } from '../worker/health';

describe("a worker's health endpoint", () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('answers 200 while every check passes', async () => {
    server = await startHealthServer('127.0.0.1:0', {
      worker: () => undefined,
      postgres: () => Promise.resolve('row'),
    });
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', checks: { worker: 'ok', postgres: 'ok' } });
  });

  it('answers 503 naming the failed check and its code, never its message', async () => {
    server = await startHealthServer('127.0.0.1:0', {
      worker: () => {
        throw Object.assign(new Error('worker DRAINING'), { code: 'DRAINING' });
      },
      postgres: () => Promise.reject(new Error('value "Jane Doe" violates a constraint')),
    });
    const response = await fetch(server.url);
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      status: 'unavailable',
      checks: { worker: 'failed (DRAINING)', postgres: 'failed' },
    });
    expect(text).not.toContain('Jane');
  });

  it('answers 404 elsewhere', async () => {
    server = await startHealthServer('127.0.0.1:0', {});
    expect((await fetch(server.url.replace('/healthz', '/metrics'))).status).toBe(404);
  });
});
