import { describe, expect, it } from 'vitest';
import type { FastifyRequest } from 'fastify';
import {
  connectionFailureOf,
  describeDatabaseError,
  formatDatabaseError,
  isDatabaseUnavailable,
  isDataError,
} from '../activities/database-errors';
import { loggableError, problemFor } from '../client/http/problems';

// Shaped like pg's DatabaseError: its message, detail and where quote the row that failed.
const pgError = (code: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00 near "Maria'), {
    code,
    detail: 'Failing row contains (Maria Lopez)',
    where: "unnamed portal parameter $1 = '...Maria'",
    ...extra,
  });

describe('database errors', () => {
  it('keeps only the SQLSTATE, the table and the constraint', () => {
    const error = pgError('23505', { table: 'lead_events', constraint: 'lead_events_pkey', schema: 'public' });
    expect(describeDatabaseError(error)).toEqual({
      sqlstate: '23505',
      table: 'lead_events',
      constraint: 'lead_events_pkey',
    });
    expect(formatDatabaseError(error)).toBe('SQLSTATE 23505 (table lead_events, constraint lead_events_pkey)');
  });

  it('never repeats the message, detail or context', () => {
    const text = JSON.stringify([describeDatabaseError(pgError('22P05')), formatDatabaseError(pgError('22P05'))]);
    expect(text).not.toMatch(/Maria|Failing|portal/);
    expect(formatDatabaseError(pgError('22P05'))).toBe('SQLSTATE 22P05');
  });

  it('finds a PostgreSQL error wrapped as a cause', () => {
    const wrapped = new Error('activity failed', { cause: new Error('pool', { cause: pgError('22021') }) });
    expect(describeDatabaseError(wrapped)?.sqlstate).toBe('22021');
  });

  it('says nothing of errors that are not PostgreSQL’s', () => {
    expect(describeDatabaseError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(describeDatabaseError(new Error('plain'))).toBeUndefined();
    expect(describeDatabaseError(undefined)).toBeUndefined();
    expect(describeDatabaseError('22P05')).toBeUndefined();
    expect(formatDatabaseError(new Error('plain'))).toBeUndefined();
  });

  it('calls class 22 and 23 the data’s fault, and nothing else', () => {
    expect(isDataError(pgError('22P05'))).toBe(true);
    expect(isDataError(pgError('22003'))).toBe(true);
    expect(isDataError(pgError('23505'))).toBe(true);
    expect(isDataError(pgError('40001'))).toBe(false);
    expect(isDataError(pgError('57P01'))).toBe(false);
    expect(isDataError(pgError('08006'))).toBe(false);
    expect(isDataError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(false);
  });

  it('calls PostgreSQL away when it cannot be reached or will not serve, and not for a bad statement or a bug', () => {
    for (const away of ['08006', '53300', '57P01', '57014']) expect(isDatabaseUnavailable(pgError(away))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    for (const answer of ['22P05', '23505', '42P01', '40001'])
      expect(isDatabaseUnavailable(pgError(answer))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('a bug of ours'))).toBe(false);
  });
});

describe('a connection to PostgreSQL that failed or passed its deadline', () => {
  it('is told by the driver’s own words or the socket’s code, and not from another client’s cause', () => {
    expect(connectionFailureOf(new Error('timeout exceeded when trying to connect'))).toBe(
      'timeout exceeded when trying to connect',
    );
    expect(connectionFailureOf(new Error('Query read timeout'))).toBe('Query read timeout');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(connectionFailureOf(refused)).toBe('ECONNREFUSED');
    // fetch() to the identity provider fails so: a TypeError whose cause is the socket's error. Not the database's.
    expect(connectionFailureOf(new TypeError('fetch failed', { cause: refused }))).toBeUndefined();
    expect(connectionFailureOf(new Error('x', { cause: refused }))).toBeUndefined();
    expect(connectionFailureOf(pgError('57014'))).toBeUndefined();
    expect(connectionFailureOf(new Error('a timeout of our own'))).toBeUndefined();
  });
});

describe('the API on a database error that reached it', () => {
  const request = { url: '/leads?office=x', id: 'req-1' } as FastifyRequest;

  it('logs the SQLSTATE, table and constraint, never the message', () => {
    const logged = loggableError(pgError('22P05', { table: 'lead_intake_queue' }));
    expect(logged).toEqual({ type: 'Error', database: 'SQLSTATE 22P05 (table lead_intake_queue)' });
  });

  it('answers data it refused as the caller’s mistake, anything else as an outage, quoting neither', () => {
    const refused = problemFor(pgError('22P05'), request);
    expect(refused.status).toBe(400);
    const outage = problemFor(pgError('57P01'), request);
    expect(outage.status).toBe(503);
    expect(JSON.stringify([refused, outage])).not.toMatch(/Maria|Failing|portal/);
  });

  it('answers a connection that failed or passed its deadline as an outage, not an internal error', () => {
    const timedOut = problemFor(new Error('timeout exceeded when trying to connect'), request);
    expect(timedOut.status).toBe(503);
    expect(timedOut.detail).toBe(
      'the database connection failed or timed out (timeout exceeded when trying to connect)',
    );
    expect(problemFor(new Error('something else'), request).status).toBe(500);
  });
});
