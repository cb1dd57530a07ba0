import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../activities/db';
import { connectionFailureOf, describeDatabaseError, isDatabaseUnavailable } from '../activities/database-errors';
import { freshDatabase, type FreshDatabase } from './support/postgres';

/**
 * A TCP relay before the run's PostgreSQL that can stop passing bytes either way while keeping every connection
 * open: the database as a client sees it when its disk stalls or a partition drops packets.
 */
interface Relay {
  port: number;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    // After pipe(), which sets both flowing: a connection opened while frozen gets no answer either.
    if (frozen) for (const socket of [client, upstream]) socket.pause();
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the relay has no port');
  return {
    port: address.port,
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const socket of sockets) socket.resume();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function through(relay: Relay, url: string): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(relay.port);
  return u.toString();
}

/** How a promise ends, and after how many ms; `pending` if it has not by `withinMs`. */
async function outcome(promise: Promise<unknown>, withinMs: number) {
  const started = Date.now();
  const settled = await Promise.race([
    promise.then(
      () => ({ ended: 'resolved' as const, error: undefined }),
      (error: unknown) => ({ ended: 'rejected' as const, error }),
    ),
    new Promise<{ ended: 'pending'; error: undefined }>((resolve) =>
      setTimeout(() => resolve({ ended: 'pending', error: undefined }), withinMs),
    ),
  ]);
  return { ...settled, ms: Date.now() - started };
}

let db: FreshDatabase;
let relay: Relay;
beforeAll(async () => {
  db = await freshDatabase();
  const u = new URL(db.appUrl);
  relay = await startRelay({ host: u.hostname, port: Number(u.port) });
});
afterAll(async () => {
  await relay?.close();
  await db?.drop();
});

describe('the services give PostgreSQL a deadline (LEADLINE_DB_QUERY_TIMEOUT)', () => {
  it('has PostgreSQL cancel a statement past it, and keeps the connection', { timeout: 20_000 }, async () => {
    const pool = createPool(db.appUrl, { max: 1, queryTimeoutMs: 1000 });
    try {
      const slow = await outcome(pool.query('SELECT pg_sleep(5)'), 4000);
      expect(slow.ended).toBe('rejected');
      expect(describeDatabaseError(slow.error)?.sqlstate).toBe('57014');
      expect(isDatabaseUnavailable(slow.error)).toBe(true);
      expect(slow.ms).toBeLessThan(3000);
      const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('gives up on a server that stops answering, and works again once it answers', { timeout: 30_000 }, async () => {
    const pool = createPool(through(relay, db.appUrl), { max: 2, queryTimeoutMs: 1000, onIdleError: () => {} });
    // Without a deadline, the same query waits for as long as the server is silent: what the deadline changes.
    const unbounded = createPool(through(relay, db.appUrl), { max: 1, onIdleError: () => {} });
    try {
      await pool.query('SELECT 1');
      await unbounded.query('SELECT 1');
      relay.freeze();
      const [bounded, waiting] = await Promise.all([
        outcome(pool.query('SELECT 1'), 6000),
        outcome(unbounded.query('SELECT 1 AS late'), 6000),
      ]);
      expect(bounded.ended).toBe('rejected');
      expect(bounded.ms).toBeLessThan(4000);
      expect(isDatabaseUnavailable(bounded.error)).toBe(true);
      // The API answers these 503 by the driver's own words (client/http/problems.ts): a change of wording shows here.
      expect(connectionFailureOf(bounded.error)).toBe('Query read timeout');
      expect(waiting.ended).toBe('pending');
      // A connection asked for while the server is silent is refused within the deadline too.
      const fresh = await outcome(
        Promise.all([pool.query('SELECT 2'), pool.query('SELECT 3'), pool.query('SELECT 4')]),
        6000,
      );
      expect(fresh.ended).toBe('rejected');
      expect(fresh.ms).toBeLessThan(4000);
      expect(connectionFailureOf(fresh.error)).toBeDefined();
      relay.thaw();
      const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      relay.thaw();
      await pool.end();
      await unbounded.end();
    }
  });

  it('takes back the locks of a transaction whose client went silent', { timeout: 30_000 }, async () => {
    const silent = createPool(through(relay, db.appUrl), { max: 1, queryTimeoutMs: 1000, onIdleError: () => {} });
    const other = createPool(db.appUrl, { max: 1, queryTimeoutMs: 8000 });
    const holder = await silent.connect();
    holder.on('error', () => {});
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(4242)');
      relay.freeze();
      // The lock is held by a session idle in its transaction; PostgreSQL ends it after twice the deadline.
      const taken = await outcome(
        (async () => {
          const client = await other.connect();
          try {
            await client.query('BEGIN');
            await client.query('SELECT pg_advisory_xact_lock(4242)');
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        })(),
        7000,
      );
      expect(taken.ended).toBe('resolved');
      expect(taken.ms).toBeGreaterThan(1000);
    } finally {
      relay.thaw();
      holder.release(true);
      await silent.end();
      await other.end();
    }
  });
});
