import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import fastifyHelmet from '@fastify/helmet';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type FastifyPluginCallbackZod,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { createLogger } from '../activities/logger';
import { packagePath } from '../activities/package-files';
import { z } from 'zod';
import { commandData, externalCommandTypes, type ExternalCommandType } from '../schemas/commands';
import { LeadIntake } from '../schemas/intake';
import { LeadId } from '../schemas/lead';
import { text } from '../schemas/text';
import { AuditQuery, AuditRow } from '../schemas/audit';
import type { Caller } from '../schemas/caller';
import { AuthenticationError, type TokenVerifier } from './authenticate';
import type { GuardedLeads } from './guarded-leads';
import type { GuardedReports } from './guarded-reports';
import { CODEC_PREFLIGHT, codecRoutes } from './http/codec';
import { CONSOLE_PATHS, consoleRoutes, type ConsoleOptions } from './http/console';
import { commandExamples } from './http/examples';
import type { PayloadCodec } from '@temporalio/common';
import { LeadlineLogController } from './http/logging';
import { reportRoutes } from './http/reports';
import { partnerRoutes } from './http/partner';
import type { GuardedPartnerLeads } from './guarded-partner-leads';
import { answerClientError, loggableError, pathOf, problem, problemFor, sendProblem } from './http/problems';
import {
  componentSchemas,
  HealthBody,
  LeadAcceptedBody,
  LeadIdParams,
  LeadListFilter,
  LeadPage,
  LeadReceiptBody,
  LeadSnapshotBody,
  LeadTimelineBody,
  LeadViewBody,
  MeBody,
  type DocumentedSchema,
  prefersAsync,
  ReadyBody,
  SubmitHeaders,
} from './http/schemas';
import { jsonResponse, problemResponse } from './http/responses';

export interface ApiOptions {
  /** Every lead operation, as the verified caller may do it (client/guarded-leads.ts). */
  leads: GuardedLeads;
  /** The reports (`GET /reports/...`), as the verified caller may read them (client/guarded-reports.ts); none: no routes. */
  reports?: GuardedReports;
  /** A referring partner's reads of its own leads (`GET /partner/leads/...`); none: no routes. */
  partnerLeads?: GuardedPartnerLeads;
  /** Verifies the bearer token of every request but liveness, readiness and the API's own description. */
  authenticate: TokenVerifier;
  /** The console (client/console): served at /console/ when given, signing people in at this provider. */
  console?: ConsoleOptions;
  /** Temporal's payload codec: with it the API serves Temporal's codec protocol at /codec (HQ HSTU and admins). */
  payloadCodec?: PayloadCodec;
  /** The Temporal UI's origin, whose browser may call /codec (CORS); none: no browser origin may. */
  temporalUiOrigin?: string;
  /**
   * Each throws when its dependency cannot be reached; `workers` (see client/readiness.ts) when no worker polls the
   * lead task queue, so a lead sent now would be accepted but neither recorded nor escalated.
   */
  checks: { temporal(): Promise<void>; postgres(): Promise<void>; workers?(): Promise<void>; keys?(): Promise<void> };
  logger?: Logger | false; // default: Leadline's logger (activities/logger.ts) at info
  bodyLimit?: number; // default 256 KiB
}

const DEFAULT_BODY_LIMIT = 256 * 1024;
/** A readiness probe must answer even when a dependency hangs rather than refuses. */
const CHECK_TIMEOUT_MS = 3_000;
/** Failed sign-ins an address may make in a minute before it is told to wait (a token guesser, a broken client). */
const FAILED_AUTHENTICATIONS_PER_MINUTE = 30;
/** Paths anyone may read: they say whether the process is up and what the API is, never anything about a lead. */
const PUBLIC_PATHS = /^\/(healthz|readyz|openapi\.json|docs(\/.*)?)$/;

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; set on every route but the public ones. */
    caller: Caller | null;
  }
}
/** Request ids from callers are echoed and logged: only a safe, bounded alphabet is taken. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The HTTP API over a LeadClient: it validates, translates errors into problems, and adds nothing of its own. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const logger = options.logger === undefined ? createLogger({ name: 'api', level: 'info' }) : options.logger;
  const app = Fastify({
    ...(logger === false ? { logger: false } : { loggerInstance: logger }),
    logController: new LeadlineLogController(),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    genReqId: requestIdOf,
    clientErrorHandler: answerClientError,
    // A path the router cannot decode (a lone surrogate as %ED%A0%80, say) is the caller's mistake, answered as every
    // other one is: a problem body, never the framework's own error shape.
    frameworkErrors: (error, request, reply) => {
      sendProblem(
        reply,
        problem(
          'badRequest',
          error.code === 'FST_ERR_BAD_URL' ? 'the request path is not valid UTF-8' : 'the request is not valid HTTP',
          request,
        ),
      );
    },
    // Every route is GET or POST by design; HEAD twins would only blur the contract the OpenAPI document states.
    exposeHeadRoutes: false,
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Only JSON bodies are accepted; a text body is a client mistake to report as 415, not a string to validate.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  // Security headers on every answer (the docs page's scripts are allowed by swagger-ui's static CSP below).
  await app.register(fastifyHelmet, { global: true });
  app.decorateRequest('caller', null);
  const failures = new FailedAuthentications(FAILED_AUTHENTICATIONS_PER_MINUTE);
  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_PATHS.test(pathOf(request))) return;
    if (options.console !== undefined && request.method === 'GET' && CONSOLE_PATHS.test(pathOf(request))) return;
    // A browser's CORS preflight carries no credentials by design; it is answered, and the real request is not.
    if (request.method === 'OPTIONS' && CODEC_PREFLIGHT.test(pathOf(request))) return;
    const waitSeconds = failures.waitFor(request.ip);
    if (waitSeconds > 0) {
      return sendProblem(
        reply,
        problem('tooManyFailures', 'too many requests without a valid token from this address', request, {
          retryAfterSeconds: waitSeconds,
        }),
      );
    }
    try {
      request.caller = await options.authenticate(request.headers.authorization);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      failures.count(request.ip);
      // RFC 6750: a request without credentials gets the challenge alone; a bad token gets its error code too.
      const challenge =
        error.code === 'invalid_request' && request.headers.authorization === undefined
          ? 'Bearer realm="leadline"'
          : `Bearer realm="leadline", error="${error.code}", error_description="${error.message}"`;
      void reply.header('www-authenticate', challenge);
      return sendProblem(reply, problem('unauthenticated', error.message, request));
    }
  });
  // Every route as a pattern, so a path that exists under other methods is told which (405), not "not found".
  const routeTable: { method: string; path: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routeTable.push({ method, path: routePattern(route.url) });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request);
    const allow = [...new Set(routeTable.filter((r) => r.path.test(path)).map((r) => r.method))].sort();
    if (allow.length > 0 && !allow.includes(request.method)) {
      void reply.header('allow', allow.join(', '));
      return sendProblem(
        reply,
        problem(
          'methodNotAllowed',
          `${request.method} is not a method of this path; it takes ${allow.join(', ')}`,
          request,
          {
            allow,
          },
        ),
      );
    }
    return sendProblem(reply, problem('routeNotFound', `no route ${request.method} ${path}`, request));
  });
  app.setErrorHandler((error, request, reply) => {
    const body = problemFor(error, request);
    if (body.status >= 500) {
      request.log[body.status === 503 || body.status === 504 ? 'warn' : 'error'](
        { error: loggableError(error), problem: body.type },
        'request failed',
      );
    }
    sendProblem(reply, body);
  });

  // Component names live in a registry of this API's own, so two APIs in one process never collide.
  const registry = z.registry<DocumentedSchema>();
  for (const [schema, meta] of componentSchemas()) registry.add(schema, meta);
  const version = await apiVersion();

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Leadline API',
        version,
        description:
          'Leads about potential victims of human trafficking, from intake to an opened case or closure. ' +
          'Errors are RFC 9457 problem documents. The intake is the only personal data the API takes in; no ' +
          'response, error or log line gives it back.',
      },
      tags: [
        { name: 'leads', description: 'Submit, list and inspect leads' },
        { name: 'commands', description: 'Move a lead through its lifecycle' },
        { name: 'operations', description: 'Liveness and readiness' },
        { name: 'audit', description: 'Who read or did what (auditors)' },
        { name: 'reports', description: 'How offices keep the SLA: counts and durations, no personal data' },
        { name: 'caller', description: 'Who the caller is and what it may do' },
        { name: 'partner', description: "A referring partner's own leads: status facts only" },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An OpenID Connect access token for this API (LEADLINE_OIDC_ISSUER, LEADLINE_OIDC_AUDIENCE)',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: createJsonSchemaTransform({ schemaRegistry: registry }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: registry }),
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, (_request, reply) => reply.send(app.swagger()));

  await app.register(routes(options, registry));
  if (options.reports !== undefined) await app.register(reportRoutes({ reports: options.reports, callerOf }));
  if (options.partnerLeads) await app.register(partnerRoutes({ partnerLeads: options.partnerLeads, callerOf }));
  if (options.console !== undefined) await app.register(consoleRoutes(options.console));
  if (options.payloadCodec !== undefined) {
    await app.register(
      codecRoutes({
        codec: options.payloadCodec,
        guard: options.leads,
        callerOf,
        ...(options.temporalUiOrigin === undefined ? {} : { uiOrigin: options.temporalUiOrigin }),
      }),
    );
  }
  // A Fastify instance is a thenable: an async function resolving with one readies it anyway, so say so here.
  await app.ready();
  return app as unknown as FastifyInstance;
}

/** The package's version, so the document names the release that serves it. */
async function apiVersion(): Promise<string> {
  const text = await readFile(packagePath('package.json'), 'utf8');
  return z.object({ version: z.string().min(1) }).parse(JSON.parse(text)).version;
}

/** A route's URL (`/leads/:id`, `/docs/*`) as a regular expression over concrete paths. */
function routePattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

const problems = {
  400: problemResponse('The request is malformed; `issues` name each field'),
  401: problemResponse('No valid bearer token; `WWW-Authenticate` says why'),
  403: problemResponse('The caller may not do this; the detail names what its roles allow'),
  404: problemResponse('No such lead, or none the caller may see'),
  405: problemResponse('The path exists but not with this method; `Allow` names the methods it takes'),
  409: problemResponse("The lead's status does not allow the command; `leadStatus` and `allowed` say what does"),
  413: problemResponse('The body is larger than the API accepts'),
  415: problemResponse('The body is not JSON'),
  422: problemResponse(
    'The idempotency key already names a lead submitted with a different intake, or the commandId a different command',
  ),
  429: problemResponse(
    'Too many submissions are being recorded; nothing was started. Retry after `Retry-After` seconds',
  ),
  503: problemResponse('Temporal or PostgreSQL cannot be reached, or refused before acting; nothing was done'),
  504: problemResponse(
    'Sent to Temporal, but its answer did not arrive in time: it may have been recorded. Retry after `Retry-After` ' +
      'seconds with the same Idempotency-Key or `commandId` (named in the problem): it is recorded once',
  ),
} as const;

/** The verified caller; only the public routes run without one. */
function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new Error('a route that needs a caller ran without one');
  return request.caller;
}

function routes(options: ApiOptions, registry: z.core.$ZodRegistry<DocumentedSchema>): FastifyPluginCallbackZod {
  const { leads, checks } = options;
  return (app, _options, done) => {
    app.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          operationId: 'healthz',
          summary: 'Liveness: the process answers',
          response: { 200: jsonResponse('The process is up', HealthBody) },
        },
      },
      () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          operationId: 'readyz',
          summary: 'Readiness: Temporal and PostgreSQL answer, and a worker polls the lead task queue',
          response: {
            200: jsonResponse('Temporal and PostgreSQL answer, and a worker polls the lead task queue', ReadyBody),
            503: problems[503],
          },
        },
      },
      async (request, reply) => {
        const [temporal, postgres, workers] = await Promise.all([
          probe('temporal', () => checks.temporal(), request),
          probe('postgres', () => checks.postgres(), request),
          checks.workers === undefined ? undefined : probe('workers', () => checks.workers?.(), request),
        ]);
        // The keyring lacks a key stored leads need (activities/keys.ts): their commands would fail.
        const keys =
          checks.keys === undefined || !postgres ? true : await probe('keys', () => checks.keys?.(), request);
        if (temporal && postgres && workers !== false && keys) {
          const polled = workers === undefined ? {} : { workers: 'ok' as const };
          return { status: 'ok' as const, checks: { temporal: 'ok' as const, postgres: 'ok' as const, ...polled } };
        }
        const polled = workers === undefined ? {} : { workers: workers ? 'ok' : 'none polling' };
        const unreachable = [temporal ? [] : ['Temporal'], postgres ? [] : ['PostgreSQL']].flat();
        const reasons = [
          ...(unreachable.length > 0 ? [`${unreachable.join(' and ')} cannot be reached`] : []),
          // With Temporal away its pollers cannot be asked; that reason is already given.
          ...(workers === false && temporal ? ['no worker polls the lead task queue'] : []),
          ...(keys ? [] : ['a key the stored leads need is missing from the keyring']),
        ];
        return sendProblem(
          reply,
          problem('notReady', reasons.join('; '), request, {
            checks: {
              temporal: temporal ? 'ok' : 'unreachable',
              postgres: postgres ? 'ok' : 'unreachable',
              ...polled,
              ...(keys ? {} : { keys: 'missing' }),
            },
          }),
        );
      },
    );

    app.post(
      '/leads',
      {
        schema: {
          tags: ['leads'],
          operationId: 'submitLead',
          summary: 'Submit a lead',
          description:
            'Answers 201 only once the intake is durably recorded. The same `Idempotency-Key` (or, without one, ' +
            'the same source and `externalReference`) always names the same lead and gets the same answer. ' +
            'With `Prefer: respond-async`, a new lead is answered 202 as soon as it is durably queued in ' +
            'PostgreSQL, even while Temporal is away (a forwarder starts its workflow, retrying until it can), or, ' +
            'when the queue cannot be reached, once Temporal has started it; `Location` names it, and reading it ' +
            'shows when the intake is recorded. The body is personal data: it is never logged or echoed.',
          headers: SubmitHeaders,
          body: LeadIntake,
          response: {
            201: jsonResponse('The intake is durably recorded; `Location` names the lead', LeadReceiptBody),
            202: jsonResponse(
              'The new lead is durably accepted (`Prefer: respond-async`); `Location` names it',
              LeadAcceptedBody,
            ),
            400: problems[400],
            413: problems[413],
            415: problems[415],
            422: problems[422],
            429: problems[429],
            503: problems[503],
            504: problems[504],
          },
        },
      },
      async (request, reply) => {
        const caller = callerOf(request);
        const key = request.headers['idempotency-key'];
        if (prefersAsync(request.headers.prefer)) {
          const answer = await leads.acceptLead(caller, request.body, key);
          reply.header('location', `/leads/${answer.leadId}`);
          const { accepted, ...body } = answer;
          if (!accepted) return reply.code(201).send(body);
          return reply.code(202).header('preference-applied', 'respond-async').send(body);
        }
        const receipt = await leads.submitLead(caller, request.body, key);
        return reply.code(201).header('location', `/leads/${receipt.leadId}`).send(receipt);
      },
    );

    app.get(
      '/leads',
      {
        schema: {
          tags: ['leads'],
          operationId: 'listLeads',
          summary: 'List leads, overdue first, then the most escalated, then the nearest deadline',
          description:
            'Every filter is intersected with the offices the caller may see. `status` takes several statuses, ' +
            'comma-separated or repeated; `agent` an agent (token subject); `unassigned=true` leads no agent holds; ' +
            "`mine=true` the caller's own; `leadId` the start of a lead id (at least 4 hex digits). A parameter the " +
            'list does not know is refused (400), each named in `issues`. Each lead carries `nextRung`, the next ' +
            'rung of its SLA ladder, computed from its row.',
          querystring: LeadListFilter,
          response: {
            200: jsonResponse('One page of leads, no personal data', LeadPage),
            400: problems[400],
            503: problems[503],
          },
        },
      },
      (request) => leads.listLeads(callerOf(request), request.query),
    );

    app.get(
      '/leads/:id',
      {
        schema: {
          tags: ['leads'],
          operationId: 'getLead',
          summary: "A lead's state, its stage deadline and the commands it allows now",
          description:
            '`allowedCommands`: what the state allows; `allowedForYou`: those the caller may send. `nextRung`: the ' +
            "next rung of the stage's SLA ladder as the lead's workflow will fire it.",
          params: LeadIdParams,
          response: {
            200: jsonResponse('The lead, live from its workflow or, once finished, from PostgreSQL', LeadViewBody),
            400: problems[400],
            404: problems[404],
            503: problems[503],
          },
        },
      },
      (request) => leads.getLead(callerOf(request), request.params.id),
    );

    app.get(
      '/me',
      {
        schema: {
          tags: ['caller'],
          operationId: 'getMe',
          summary: "The caller's subject, roles and offices, and what its roles may ever do",
          description:
            "From the caller's verified token and the access policy; what a given lead allows is that lead's " +
            '`allowedForYou`. Nothing is read about any lead, so nothing is audited.',
          response: { 200: jsonResponse('The caller and its capabilities', MeBody), 401: problems[401] },
        },
      },
      (request) => leads.me(callerOf(request)),
    );

    app.get(
      '/leads/:id/events',
      {
        schema: {
          tags: ['leads'],
          operationId: 'getLeadEvents',
          summary: "A lead's events in order, without personal data",
          params: LeadIdParams,
          response: {
            200: jsonResponse("The lead's events in order", LeadTimelineBody),
            400: problems[400],
            404: problems[404],
            503: problems[503],
          },
        },
      },
      async (request) => ({
        leadId: request.params.id,
        events: await leads.timeline(callerOf(request), request.params.id),
      }),
    );

    app.get(
      '/leads/:id/intake',
      {
        schema: {
          tags: ['leads'],
          operationId: 'getLeadIntake',
          summary: "A lead's intake: the personal data of potential victims and of the partner who referred them",
          description:
            "For the agents, supervisors and SACs of the lead's office, and HQ HSTU. Every read is recorded in the " +
            'audit log, with the stated `purpose`, in the same transaction as the read.',
          params: LeadIdParams,
          querystring: IntakeReadQuery,
          response: {
            200: jsonResponse("The lead's intake", IntakeBody),
            400: problems[400],
            401: problems[401],
            403: problems[403],
            404: problems[404],
            503: problems[503],
          },
        },
      },
      async (request) => ({
        leadId: request.params.id,
        intake: await leads.intake(callerOf(request), request.params.id, request.query.purpose),
      }),
    );

    app.get(
      '/audit',
      {
        schema: {
          tags: ['audit'],
          operationId: 'getAuditLog',
          summary: 'The audit log, newest first: who read or did what to which lead, and what was refused',
          querystring: AuditQuery,
          response: {
            200: jsonResponse('One page of the audit log', AuditPage),
            400: problems[400],
            401: problems[401],
            403: problems[403],
            503: problems[503],
          },
        },
      },
      (request) => leads.auditLog(callerOf(request), request.query),
    );

    for (const type of externalCommandTypes) {
      app.post(
        `/leads/:id/commands/${type}`,
        {
          schema: {
            tags: ['commands'],
            operationId: lowerFirst(type),
            summary: commandSummaries[type],
            description:
              'Answers with the lead after the command is durably recorded. Send the same `commandId` to retry ' +
              'safely: a command id seen before with the same command and data is recorded once; with another ' +
              'command or other data it is refused (422).',
            params: LeadIdParams,
            body: commandBody(type, registry),
            response: {
              200: jsonResponse('The lead after the command was durably recorded', LeadSnapshotBody),
              400: problems[400],
              404: problems[404],
              409: problems[409],
              413: problems[413],
              415: problems[415],
              422: problems[422],
              503: problems[503],
              504: problems[504],
            },
          },
        },
        async (request) => {
          const body = request.body;
          return leads.command(callerOf(request), request.params.id, type, body.data as never, body.commandId);
        },
      );
    }
    done();
  };
}

function commandBody(type: ExternalCommandType, registry: z.core.$ZodRegistry<DocumentedSchema>) {
  const data: z.ZodType<unknown, object> = commandData[type];
  // Commands without required fields may leave `data` out.
  const acceptsEmpty = data.safeParse({}).success;
  const body = z
    .object({
      data: acceptsEmpty ? data.prefault({}) : data,
      /** Idempotency key for the command; one is made up when left out, so a retry without it may record twice. */
      commandId: text(200).optional(),
    })
    .strict();
  registry.add(body, {
    example: { data: commandExamples[type], commandId: `${lowerFirst(type)}-2026-11-02-0001` },
  });
  return body;
}

async function probe(name: string, check: () => Promise<void> | undefined, request: FastifyRequest): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return true;
  } catch (error) {
    request.log.warn({ dependency: name, error: loggableError(error) }, 'readiness check failed');
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function lowerFirst(value: string): string {
  return value.charAt(0).toLowerCase() + value.slice(1);
}

const commandSummaries: Record<ExternalCommandType, string> = {
  ValidateLead: 'Record the validation outcome (normally automatic)',
  AssignLead: 'Assign a validated lead to an office, optionally to an agent',
  ReassignLead: 'Move an assigned lead to another office or agent, with a reason',
  RequestInterview: 'Request an interview of the potential victim',
  RescheduleInterview: 'Move a requested interview, with a reason',
  CompleteInterview: "Record the interview's outcome",
  OpenCase: 'Open a case: the lead is finished',
  CloseLead: 'Close the lead with a reason: the lead is finished',
  PauseSla: "Pause the stage's SLA clock, with a justification",
  ResumeSla: "Restart the stage's SLA clock with the time already used",
  AcknowledgeEscalation: 'Acknowledge an escalation: the ladder holds for the re-escalation interval',
  ChangePriority: 'Raise or lower the priority, with a reason',
  AddNote: 'Add a note to the lead',
  RecordSafety:
    "Record what is known of the victim's safety and consent to contact (personal data, sealed at rest); " +
    'marking danger or a minor makes the lead urgent',
  PauseForStabilisation:
    'Pause the SLA clock for victim care (medical, shelter, legal, counselling) until an expected end; ' +
    'supervisors, SACs and HQ only; the supervisor is reminded at that end and at the policy maximum',
  AcknowledgePartner:
    'Tell the referring partner that the office has its lead, when the routing rules have not (supervisors, SACs, HQ)',
};

const IntakeReadQuery = z.strictObject({
  /** Why the intake is read, for the audit log (e.g. "preparing the interview"). */
  purpose: text(200),
});
const IntakeBody = z.object({ leadId: LeadId, intake: LeadIntake });
const AuditPage = z.object({ items: z.array(AuditRow), nextCursor: z.string().nullable() });

/** Failed authentications per address in a sliding minute; past the limit the address waits for the window to pass. */
class FailedAuthentications {
  private readonly seen = new Map<string, number[]>();
  constructor(private readonly perMinute: number) {}

  count(address: string): void {
    const now = Date.now();
    const recent = (this.seen.get(address) ?? []).filter((at) => now - at < 60_000);
    recent.push(now);
    this.seen.set(address, recent);
    // Bounded memory: addresses that stopped failing are forgotten as the map grows.
    if (this.seen.size > 10_000) {
      for (const [key, times] of this.seen) if (times.every((at) => now - at >= 60_000)) this.seen.delete(key);
    }
  }

  waitFor(address: string): number {
    const recent = (this.seen.get(address) ?? []).filter((at) => Date.now() - at < 60_000);
    if (recent.length < this.perMinute) return 0;
    return Math.max(1, Math.ceil((60_000 - (Date.now() - (recent[0] ?? 0))) / 1000));
  }
}
