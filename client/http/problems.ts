import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, ResponseSerializationError } from 'fastify-type-provider-zod';
import { ZodError } from 'zod';
import { connectionFailureOf, formatDatabaseError, isDataError } from '../../activities/database-errors';
import {
  CommandIdConflictError,
  CommandRejectedError,
  IdempotencyConflictError,
  InvalidInputError,
  LeadNotFoundError,
  LeadPendingError,
  OutcomeUnknownError,
  OverloadedError,
  UnavailableError,
} from '../errors';
import { ForbiddenError } from '../guarded-leads';
import type { ProblemBody } from './schemas';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types; `urn:` because nothing serves documentation at a URL for them yet. */
const problemTypes = {
  invalidInput: { type: 'urn:leadline:problem:invalid-input', title: 'Invalid input', status: 400 },
  malformedJson: { type: 'urn:leadline:problem:malformed-json', title: 'Malformed JSON', status: 400 },
  badRequest: { type: 'urn:leadline:problem:bad-request', title: 'Bad request', status: 400 },
  unauthenticated: { type: 'urn:leadline:problem:unauthenticated', title: 'Not signed in', status: 401 },
  forbidden: { type: 'urn:leadline:problem:forbidden', title: 'Not allowed', status: 403 },
  tooManyFailures: {
    type: 'urn:leadline:problem:too-many-failed-authentications',
    title: 'Too many failed authentications',
    status: 429,
  },
  leadNotFound: { type: 'urn:leadline:problem:lead-not-found', title: 'Lead not found', status: 404 },
  leadPending: { type: 'urn:leadline:problem:lead-pending', title: 'Lead not recorded yet', status: 404 },
  routeNotFound: { type: 'urn:leadline:problem:not-found', title: 'Not found', status: 404 },
  methodNotAllowed: { type: 'urn:leadline:problem:method-not-allowed', title: 'Method not allowed', status: 405 },
  commandRejected: { type: 'urn:leadline:problem:command-rejected', title: 'Command rejected', status: 409 },
  idempotencyConflict: {
    type: 'urn:leadline:problem:idempotency-conflict',
    title: 'Idempotency key reused',
    status: 422,
  },
  tooLarge: { type: 'urn:leadline:problem:payload-too-large', title: 'Payload too large', status: 413 },
  mediaType: { type: 'urn:leadline:problem:unsupported-media-type', title: 'Unsupported media type', status: 415 },
  overloaded: { type: 'urn:leadline:problem:overloaded', title: 'Too many submissions', status: 429 },
  unavailable: { type: 'urn:leadline:problem:unavailable', title: 'Service unavailable', status: 503 },
  // 504, not 503: the API is a gateway to Temporal, and the request went through it without an answer coming back
  // in time (RFC 9110 15.6.5). A 503 tells a caller nothing was done; here something may have been.
  outcomeUnknown: { type: 'urn:leadline:problem:outcome-unknown', title: 'Outcome unknown', status: 504 },
  notReady: { type: 'urn:leadline:problem:not-ready', title: 'Not ready', status: 503 },
  internal: { type: 'urn:leadline:problem:internal', title: 'Internal server error', status: 500 },
} as const;
export type ProblemKind = keyof typeof problemTypes;

export function problem(
  kind: ProblemKind,
  detail: string,
  request: FastifyRequest,
  extensions: Record<string, unknown> = {},
): ProblemBody {
  return { ...problemTypes[kind], detail, instance: pathOf(request), requestId: request.id, ...extensions };
}

export function sendProblem(reply: FastifyReply, body: ProblemBody): FastifyReply {
  // A problem that says when to come back says it in the header too (RFC 9110 Retry-After).
  if (typeof body.retryAfterSeconds === 'number') void reply.header('retry-after', String(body.retryAfterSeconds));
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** The request's path without its query string, which may carry filter values. */
export function pathOf(request: FastifyRequest): string {
  const url = request.url;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  // A partner's own reference is sealed wherever Leadline keeps it: logs and problems name the route, not the value.
  return path.replace(/^\/partner\/leads\/[^/]+/, '/partner/leads/{reference}');
}

const validationContexts: Record<string, string> = { querystring: 'query', params: 'path', headers: 'header' };

/**
 * Turns anything a route or fastify threw into a problem. The details are written from what the API knows,
 * never copied from the request: a parser's message can quote the body it choked on.
 */
export function problemFor(error: unknown, request: FastifyRequest): ProblemBody {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as FastifyError).validationContext ?? 'body';
    const prefix = validationContexts[context];
    const at = (field: string) => (prefix === undefined ? field || '(body)' : field ? `${prefix}.${field}` : prefix);
    const issues = error.validation.flatMap((issue) => {
      const field = issue.instancePath.split('/').filter(Boolean).join('.');
      // One issue per parameter or field the schema does not know, each named where it was sent, so a misspelt
      // filter is pointed at rather than silently ignored. Names only: a key is the caller's own text, bounded here.
      const keys = (issue.params as { keys?: unknown } | undefined)?.keys;
      if (issue.keyword === 'unrecognized_keys' && Array.isArray(keys) && keys.length > 0) {
        const where = context === 'querystring' ? 'parameter' : 'field';
        return keys.map((key) => ({
          path: at([field, String(key).slice(0, 100)].filter(Boolean).join('.')),
          message: `is not a ${where} this route takes`,
        }));
      }
      return [{ path: at(field), message: issue.message ?? 'is not valid' }];
    });
    const where = context === 'body' ? 'request body' : `request ${validationContexts[context] ?? context}`;
    return problem('invalidInput', `the ${where} is not valid: ${describeIssues(issues)}`, request, { issues });
  }
  if (error instanceof InvalidInputError) {
    return problem('invalidInput', `${error.message}: ${describeIssues(error.issues)}`, request, {
      issues: error.issues,
    });
  }
  if (error instanceof LeadPendingError) {
    return problem('leadPending', `${error.message}; ask again shortly`, request, {
      leadId: error.leadId,
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  // A partner's reference is its own: the answer does not repeat it, and is the same for another partner's lead.
  if (error instanceof LeadNotFoundError && error.name === 'PartnerLeadNotFoundError') {
    return problem('leadNotFound', error.message, request);
  }
  if (error instanceof LeadNotFoundError) {
    return problem('leadNotFound', `no lead has the id ${error.leadId}`, request, { leadId: error.leadId });
  }
  if (error instanceof CommandRejectedError) {
    // `status` is the HTTP status in a problem; the lead's status travels as `leadStatus`.
    return problem('commandRejected', error.message, request, {
      leadStatus: error.status,
      allowed: error.allowed,
      // A safety rule's refusal names each rule and what would satisfy it.
      ...(error.rules.length === 0 ? {} : { rules: error.rules }),
    });
  }
  if (error instanceof IdempotencyConflictError) {
    return problem('idempotencyConflict', `${error.message}; use a new key for a new lead`, request, {
      leadId: error.leadId,
    });
  }
  if (error instanceof CommandIdConflictError) {
    return problem('idempotencyConflict', `${error.message}; use a new commandId for a new command`, request, {
      leadId: error.leadId,
    });
  }
  if (error instanceof OverloadedError) {
    return problem('overloaded', error.message, request, { retryAfterSeconds: error.retryAfterSeconds });
  }
  if (error instanceof ForbiddenError) {
    return problem('forbidden', error.message, request);
  }
  if (error instanceof OutcomeUnknownError) {
    // The commandId is named even when the caller sent one: when the LeadClient made it up it is the only way to retry.
    return problem('outcomeUnknown', error.message, request, {
      leadId: error.leadId,
      ...(error.commandId === undefined ? {} : { commandId: error.commandId }),
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  if (error instanceof UnavailableError) {
    return problem('unavailable', error.message, request);
  }
  const database = formatDatabaseError(error);
  if (database !== undefined) {
    // Reached here only if a caller let PostgreSQL's error through: say what it was, never what it quoted.
    return isDataError(error)
      ? problem('invalidInput', `PostgreSQL refused the request's data (${database})`, request)
      : problem('unavailable', `PostgreSQL did not complete the request (${database})`, request);
  }
  const connection = connectionFailureOf(error);
  if (connection !== undefined) {
    // The connection to the database failed or passed its deadline (LEADLINE_DB_QUERY_TIMEOUT): an outage, not a bug.
    return problem('unavailable', `the database connection failed or timed out (${connection})`, request);
  }
  if (isFastifyError(error)) {
    switch (error.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON':
        return problem('malformedJson', 'the request body is not valid JSON', request);
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return problem('malformedJson', 'the request body is empty but its content type says JSON', request);
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return problem('tooLarge', 'the request body is larger than this API accepts', request);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return problem('mediaType', 'send the request body as application/json', request);
      default:
        break;
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return problem('badRequest', `the request cannot be processed (${error.code})`, request);
    }
  }
  if (error instanceof SyntaxError) {
    // A parser's SyntaxError quotes the text it failed on: never repeat it.
    return problem('malformedJson', 'the request body is not valid JSON', request);
  }
  return problem('internal', `an unexpected error occurred; quote request id ${request.id} when reporting it`, request);
}

/** What may be logged about an error: its class and code, and its message only when it cannot quote the body. */
export function loggableError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  // PostgreSQL's message, detail and context can quote the row it refused.
  const database = formatDatabaseError(error);
  if (database !== undefined) return { type: error.name, database };
  const code = (error as Partial<FastifyError>).code;
  const logged: Record<string, unknown> = { type: error.name, ...(code === undefined ? {} : { code }) };
  if (!(error instanceof SyntaxError)) logged.message = error.message;
  if (error instanceof ResponseSerializationError && error.cause instanceof ZodError) {
    // Paths and zod's own messages only: zod does not quote values in them.
    logged.issues = error.cause.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  }
  return logged;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/**
 * Node's HTTP parser refuses a header value with a NUL (or another control character) before any route sees the
 * request. Fastify's own answer names nothing; this one is a problem document naming the header, found from where
 * the parser stopped. The value is never quoted, and nothing is logged or started.
 */
export function answerClientError(
  error: Error & { code?: string; bytesParsed?: number; rawPacket?: unknown },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const header = status === 400 ? headerAt(error.rawPacket, error.bytesParsed) : undefined;
  const message = 'holds a character a header may not carry (such as a NUL byte)';
  const body =
    header === undefined
      ? { ...problemTypes.badRequest, status, detail: 'the request is not valid HTTP' }
      : {
          ...problemTypes.invalidInput,
          detail: `the request header is not valid: header.${header}: ${message}`,
          issues: [{ path: `header.${header}`, message }],
        };
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** The name of the header whose value the parser stopped in, if it stopped in one. */
function headerAt(raw: unknown, offset: number | undefined): string | undefined {
  if (!Buffer.isBuffer(raw) || offset === undefined) return undefined;
  const head = raw.subarray(0, offset).toString('latin1');
  const line = head.slice(head.lastIndexOf('\r\n') + 2);
  const colon = line.indexOf(':');
  const name = colon === -1 ? '' : line.slice(0, colon);
  return HEADER_NAME.test(name) ? name.toLowerCase() : undefined;
}

function describeIssues(issues: readonly { path: string; message: string }[]): string {
  const shown = issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`);
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  return shown.join('; ');
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as Partial<FastifyError>).code === 'string';
}
