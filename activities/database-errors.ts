/**
 * What may be said about a PostgreSQL error. Its `message`, `detail`, `where` and `hint` can quote the row that
 * failed (a victim's name before a NUL byte, a key's value), so logs and answers keep to the SQLSTATE and the
 * names of the table and constraint, which are the schema's and never the caller's data.
 */
export interface DatabaseErrorDescription {
  /** Five-character SQLSTATE, e.g. `22P05` or `23505`. */
  sqlstate: string;
  table?: string;
  constraint?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;
// An error the driver wraps (a pool, Temporal's activity failure) keeps the original as `cause`; a few levels suffice.
const MAX_CAUSE_DEPTH = 5;

function field(error: object, name: string): string | undefined {
  const value = (error as Record<string, unknown>)[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** The SQLSTATE, table and constraint of a PostgreSQL error (or of one it wraps); undefined for anything else. */
export function describeDatabaseError(error: unknown): DatabaseErrorDescription | undefined {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null; depth += 1) {
    const sqlstate = field(current, 'code');
    if (sqlstate !== undefined && SQLSTATE.test(sqlstate)) {
      const description: DatabaseErrorDescription = { sqlstate };
      const table = field(current, 'table');
      const constraint = field(current, 'constraint');
      if (table !== undefined) description.table = table;
      if (constraint !== undefined) description.constraint = constraint;
      return description;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * PostgreSQL refused the data itself (class 22 "data exception", class 23 "integrity constraint violation"):
 * sending the same data again fails the same way, so it is the caller's mistake, not an outage to retry.
 */
export function isDataError(error: unknown): boolean {
  const sqlstate = describeDatabaseError(error)?.sqlstate;
  return sqlstate !== undefined && (sqlstate.startsWith('22') || sqlstate.startsWith('23'));
}

/** A log- and answer-safe phrase, e.g. `SQLSTATE 23505 (table lead_events, constraint lead_events_pkey)`. */
export function formatDatabaseError(error: unknown): string | undefined {
  const description = describeDatabaseError(error);
  if (description === undefined) return undefined;
  const where = [
    description.table === undefined ? undefined : `table ${description.table}`,
    description.constraint === undefined ? undefined : `constraint ${description.constraint}`,
  ].filter((part) => part !== undefined);
  return where.length === 0
    ? `SQLSTATE ${description.sqlstate}`
    : `SQLSTATE ${description.sqlstate} (${where.join(', ')})`;
}

/**
 * PostgreSQL could not be reached or would not serve (a socket or pool error, SQLSTATE class 08 "connection
 * exception", 53 "insufficient resources", 57 "operator intervention": shutting down, a statement cancelled), as
 * opposed to an answer about the query or a bug of ours (which says nothing about availability and must not be taken
 * for it). The intake queue and the 1.0.0 id lookup both ask it.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const sqlstate = describeDatabaseError(error)?.sqlstate;
  if (sqlstate !== undefined)
    return sqlstate.startsWith('08') || sqlstate.startsWith('53') || sqlstate.startsWith('57');
  const bug = [TypeError, RangeError, ReferenceError, SyntaxError].some((kind) => error instanceof kind);
  return error instanceof Error && !bug;
}

/** Socket errors of a connection to PostgreSQL that failed or could not be made. */
const SOCKET_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** What node-postgres and its pool say when a deadline passed or the connection ended; they quote no data. */
const DRIVER_FAILURES = new Set([
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
]);

/**
 * The driver's own account of a connection to PostgreSQL that failed, ended or passed its deadline
 * (LEADLINE_DB_QUERY_TIMEOUT), rather than an answer from the server: the phrase to give for it, or undefined. Only
 * the error itself is read, not its causes: another client's failure (a `fetch` to the identity provider, whose
 * cause is a socket error) must not be taken for the database's.
 */
export function connectionFailureOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || error instanceof TypeError) return undefined;
  const code = field(error, 'code');
  if (code !== undefined && SOCKET_FAILURES.has(code)) return code;
  const message = field(error, 'message');
  return message !== undefined && DRIVER_FAILURES.has(message) ? message : undefined;
}
