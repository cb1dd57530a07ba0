import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { z } from 'zod';
import { SlaPolicy, defaultSlaPolicyInput } from '../schemas/sla-policy';
import { packagePath } from './package-files';

const projectRoot = packagePath('');

/** Submissions a LeadClient records at once unless told otherwise (LEADLINE_MAX_SUBMISSIONS_IN_FLIGHT). */
export const DEFAULT_MAX_SUBMISSIONS_IN_FLIGHT = 64;
/**
 * How long a lead's workflow task may run before Temporal gives it to another worker (its default is 10 s). A task
 * running on a worker that dies holds the lead until then: a rung due meanwhile waited up to 10 s more
 * (`npm run faults`, worker-kill-rungs: "10 s on earlier attempts (start-to-close)"). A task's own work is short (the
 * slowest seen: 1.9 s, on a worker replaying hundreds of leads on 2 busy cores), and a local activity that outlasts
 * 80 % of it keeps the task alive by heartbeat. Set at start (LEADLINE_WORKFLOW_TASK_TIMEOUT); continue-as-new keeps it.
 */
export const DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS = 5;
/** The resource indicator (an absolute URI) Leadline's API tokens are for, unless LEADLINE_OIDC_AUDIENCE says another. */
export const DEFAULT_AUDIENCE = 'urn:leadline:api';

const optionalUrl = z.url().optional();

/** LEADLINE_FINGERPRINT_KEY of development (`npm start`, tests): public, so refused where LEADLINE_ROLE is api or worker. */
export const DEVELOPMENT_FINGERPRINT_KEY = 'leadline-development-fingerprint-key';

/** Everything `npm start` and the worker read from the environment, validated once at start-up. */
export const LeadlineEnv = z.object({
  /**
   * What this process runs: `all` (the worker and the API, as `npm start`), `worker`, or `api`. An API process
   * neither migrates nor starts servers: it needs DATABASE_URL and TEMPORAL_ADDRESS, and the workers' payload key.
   */
  LEADLINE_ROLE: z.enum(['all', 'worker', 'api']).default('all'),
  LEADLINE_DATA_DIR: z.string().default(`${projectRoot}.data`),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** The application's connection (a member of the `leadline_app` role). Unset: embedded PostgreSQL. */
  DATABASE_URL: optionalUrl,
  /** The owner's connection, for migrations; defaults to DATABASE_URL. */
  DATABASE_ADMIN_URL: optionalUrl,
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(5433),
  /** A Temporal frontend to use instead of starting the dev server, e.g. `temporal.internal:7233`. */
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /**
   * TLS to a Temporal cluster at TEMPORAL_ADDRESS: `true` (the system's roots), or implied by any of the files below.
   * TEMPORAL_TLS_CA: the server's root CA (PEM); TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: this client's certificate and
   * key for mutual TLS; TEMPORAL_TLS_SERVER_NAME: the name the server's certificate carries, when not the address's.
   */
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  /**
   * An API key for a cluster that authenticates callers by one (Temporal Cloud, or a server with an authorizer that
   * reads it): sent as `Authorization: Bearer <key>` on every call, over TLS unless TEMPORAL_TLS is `false`.
   */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_DEV_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /**
   * Which Temporal UI `npm start` serves on TEMPORAL_UI_PORT: `embedded`, the dev server's own (no sign-in, so it
   * shows payloads encrypted), or `server`, Temporal's standalone UI server (worker/temporal-ui.ts, as `npm run
   * cluster` runs it: built once with Go, signed in through the OpenID provider, decoding through the API's codec for
   * HQ HSTU and admins). `server` needs the dev server and the API in this process.
   */
  LEADLINE_TEMPORAL_UI: z
    .enum(['embedded', 'server'], {
      error: "must be embedded (the dev server's UI, payloads encrypted) or server (Temporal's UI server, signed in)",
    })
    .default('embedded'),
  /** The port of the https front before the API's codec, for the UI server of LEADLINE_TEMPORAL_UI=server; 0: any. */
  LEADLINE_TEMPORAL_UI_CODEC_PORT: z.coerce.number().int().min(0).max(65535).default(3443),
  /**
   * The Temporal UI server's confidential client at LEADLINE_OIDC_ISSUER (`npm run cluster`, LEADLINE_TEMPORAL_UI=server).
   * Without an issuer, the development provider's web client of that id (default `temporal-ui`) and its secret.
   */
  TEMPORAL_UI_OIDC_CLIENT_ID: z.string().optional(),
  TEMPORAL_UI_OIDC_CLIENT_SECRET: z.string().optional(),
  LEADLINE_TASK_QUEUE: z.string().default('leads'),
  /**
   * Seconds the services give PostgreSQL to finish a statement, or to hand them a connection, before they give up on it
   * (activities/db.ts): a database that stops answering without closing anything then costs an append a retry and a
   * request an answer, not a connection held for as long as it lasts. The operator's tools have none.
   */
  LEADLINE_DB_QUERY_TIMEOUT: z.coerce.number().int().min(1).max(600).default(10),
  /** Submissions the API records at once; past it POST /leads answers 429 with Retry-After at once. */
  LEADLINE_MAX_SUBMISSIONS_IN_FLIGHT: z.coerce.number().int().min(1).default(DEFAULT_MAX_SUBMISSIONS_IN_FLIGHT),
  /**
   * Open leads the worker keeps in memory (~0.5 MB each). A lead outside the cache costs nothing until its
   * timer fires or a command arrives; then its history is replayed (about 45 ms of CPU for an ordinary lead, `npm run
   * bench:replay`). Leads are never lost by eviction.
   */
  LEADLINE_CACHED_LEADS: z.coerce.number().int().min(0).default(1000),
  /**
   * Seconds a lead's workflow task waits on the sticky queue of the worker that has it cached before Temporal
   * hands it to any worker (which replays its history first). The SDK's 10 s held rungs due while a worker was
   * down until 10 s after another returned; shorter sends a task waiting behind busy cores to a full replay sooner.
   */
  LEADLINE_STICKY_QUEUE_TIMEOUT: z.coerce.number().positive().default(3),
  /**
   * Seconds a lead's workflow task may run before Temporal gives it to another worker, set when the lead starts (or is
   * healed): a task held by a worker that died holds the lead this long. A task whose replay takes longer times out
   * on every attempt; raise it if lead histories show WorkflowTaskTimedOut (start-to-close) while their workers live.
   */
  LEADLINE_WORKFLOW_TASK_TIMEOUT: z.coerce
    .number()
    .int()
    .min(2)
    .max(120)
    .default(DEFAULT_WORKFLOW_TASK_TIMEOUT_SECONDS),
  /**
   * `off`: workflow code captures no stack traces (the SDK's per-promise capture is a third of the workflow
   * thread's time); a failed workflow task shows its error's type and message. `full`: the SDK's default, with
   * stacks in failures and in the stack-trace query. Set `full` while debugging; the worker replays the lead.
   */
  LEADLINE_WORKFLOW_STACK_TRACES: z.enum(['off', 'full']).default('off'),
  /**
   * host:port where the worker serves the Temporal SDK's Prometheus metrics at /metrics (task slots, pollers,
   * schedule-to-start and execution latencies, cache hits). Unset: none.
   */
  LEADLINE_METRICS_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
    .optional(),
  /**
   * host:port where a worker process answers `GET /healthz` (worker/health.ts): 200 while its worker runs and
   * PostgreSQL answers, else 503. For container and Kubernetes probes of processes without the API. Unset: none.
   */
  LEADLINE_HEALTH_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:9465')
    .optional(),
  /**
   * Seconds between the reconciler's passes (worker/reconciler.ts): each restarts, from its event log, every open
   * lead whose workflow Temporal no longer runs. `off`: this process runs no reconciler (another worker's does).
   */
  LEADLINE_RECONCILE_INTERVAL: z
    .union([z.literal('off'), z.coerce.number().positive()], { error: 'must be a number of seconds above 0, or off' })
    .default(60),
  /** A JSON file holding an SLA policy (see docs/lifecycle.md); unset: the defaults of DESIGN.md. */
  LEADLINE_SLA_POLICY: z.string().optional(),
  /** Divides every SLA duration, e.g. 3600 turns hours into seconds for a demo. */
  LEADLINE_SLA_TIME_SCALE: z.coerce.number().positive().optional(),
  LEADLINE_DIRECTORY: z.string().default(`${projectRoot}config/offices.json`),
  /** The partner directory (zod-validated); unset: config/partners.json when it exists, else none. */
  LEADLINE_PARTNERS: z.string().optional(),
  /** Keys the duplicate-check fingerprint; set a secret of your own outside development. */
  LEADLINE_FINGERPRINT_KEY: z.string().min(8).default(DEVELOPMENT_FINGERPRINT_KEY),
  /** Channels that really send; contacts on any other channel are logged instead. */
  LEADLINE_NOTIFY_CHANNELS: z
    .string()
    .default('log')
    .transform((value) =>
      value
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(['log', 'email', 'webhook']))),
  SMTP_URL: optionalUrl,
  SMTP_FROM: z.string().default('Leadline <leadline@hsi.example.gov>'),
  WEBHOOK_SECRET: z.string().min(16).optional(),
  LEADLINE_PUBLIC_URL: optionalUrl,
  /**
   * The keyring that encrypts Temporal's payloads and PostgreSQL's sensitive fields: a file, or the JSON itself,
   * `{"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}` (activities/keys.ts). Unset: LEADLINE_PAYLOAD_KEY, else
   * LEADLINE_DATA_DIR/keyring.json (made on a first start with an empty data directory, rotated by `leadline keys rotate`).
   */
  LEADLINE_KEYRING: z.string().optional(),
  /** base64 of 32 random bytes: a keyring of one key (with LEADLINE_KEYRING: an older key it also decrypts with). */
  LEADLINE_PAYLOAD_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be base64 of 32 bytes (openssl rand -base64 32)')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * The OpenID provider whose access tokens the API accepts (its `iss`; keys from its JWKS). Unset: `npm start` runs
   * a development provider on loopback (LEADLINE_OIDC_DEV_PORT) with the sign-ins of config/dev-identities.json.
   */
  LEADLINE_OIDC_ISSUER: optionalUrl,
  /** The `aud` the API's tokens must carry: the resource indicator (an absolute URI) a client asks its token for. */
  LEADLINE_OIDC_AUDIENCE: z.string().min(1).default(DEFAULT_AUDIENCE),
  /** The claim naming the caller's roles (array or space-separated): intake, agent, supervisor, sac, hq, auditor, admin. */
  LEADLINE_OIDC_ROLES_CLAIM: z.string().min(1).default('leadline_roles'),
  /** The claim naming the caller's offices (directory ids such as HSI-NEWARK). */
  LEADLINE_OIDC_OFFICES_CLAIM: z.string().min(1).default('leadline_offices'),
  /** The claim naming the referring partner a partner's token speaks for (a partner directory id). */
  LEADLINE_OIDC_PARTNER_CLAIM: z.string().min(1).default('leadline_partner'),
  /**
   * The Temporal UI's URL, whose browser may call the API's codec server (/codec) to show payloads decrypted. Unset:
   * the dev server's UI when `npm start` runs it; otherwise no browser origin.
   */
  LEADLINE_TEMPORAL_UI_URL: optionalUrl,
  /** The console's client id at the OpenID provider: a public client (authorization code with PKCE). */
  LEADLINE_CONSOLE_CLIENT_ID: z.string().min(1).default('leadline-console'),
  /** Port of the development OpenID provider, when LEADLINE_OIDC_ISSUER is unset. */
  LEADLINE_OIDC_DEV_PORT: z.coerce.number().int().min(0).max(65535).default(3001),
});
export type LeadlineEnv = z.infer<typeof LeadlineEnv>;

export function readEnv(env: NodeJS.ProcessEnv = process.env): LeadlineEnv {
  // An empty variable (as compose passes `${X:-}`) means "not set".
  const parsed = LeadlineEnv.safeParse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Leadline's configuration is not valid:\n${problems}`);
  }
  const cfg = parsed.data;
  // Settings one variable needs from another; every one missing is named at once, as zod's are above.
  const needed: [name: string, missing: boolean, when: string][] = [
    ['DATABASE_URL', cfg.LEADLINE_ROLE === 'api' && cfg.DATABASE_URL === undefined, 'LEADLINE_ROLE is api'],
    ['TEMPORAL_ADDRESS', cfg.LEADLINE_ROLE === 'api' && cfg.TEMPORAL_ADDRESS === undefined, 'LEADLINE_ROLE is api'],
    [
      'TEMPORAL_TLS_KEY',
      cfg.TEMPORAL_TLS_CERT !== undefined && cfg.TEMPORAL_TLS_KEY === undefined,
      'TEMPORAL_TLS_CERT is set',
    ],
    [
      'TEMPORAL_TLS_CERT',
      cfg.TEMPORAL_TLS_KEY !== undefined && cfg.TEMPORAL_TLS_CERT === undefined,
      'TEMPORAL_TLS_KEY is set',
    ],
    // The development provider runs only beside a whole `npm start`; an API of its own trusts the agency's.
    [
      'LEADLINE_OIDC_ISSUER',
      cfg.LEADLINE_ROLE === 'api' && cfg.LEADLINE_OIDC_ISSUER === undefined,
      'LEADLINE_ROLE is api',
    ],
    [
      'SMTP_URL',
      cfg.LEADLINE_NOTIFY_CHANNELS.includes('email') && cfg.SMTP_URL === undefined,
      'LEADLINE_NOTIFY_CHANNELS includes email',
    ],
    [
      'WEBHOOK_SECRET',
      cfg.LEADLINE_NOTIFY_CHANNELS.includes('webhook') && cfg.WEBHOOK_SECRET === undefined,
      'LEADLINE_NOTIFY_CHANNELS includes webhook',
    ],
  ];
  const problems = needed.filter(([, missing]) => missing).map(([name, , when]) => `  ${name}: needed when ${when}`);
  // The key of lead ids and digests: the development default is public, so whoever guessed a partner's reference could
  // compute its lead's id. A process of a split deployment (an agency's) must have its own.
  if (cfg.LEADLINE_ROLE !== 'all' && cfg.LEADLINE_FINGERPRINT_KEY === DEVELOPMENT_FINGERPRINT_KEY) {
    problems.push(
      `  LEADLINE_FINGERPRINT_KEY: set a secret of your own when LEADLINE_ROLE is ${cfg.LEADLINE_ROLE} (the development default is public)`,
    );
  }
  // The UI server sits beside the dev server and the API that `npm start` runs in this one process.
  if (cfg.LEADLINE_TEMPORAL_UI === 'server') {
    if (cfg.TEMPORAL_ADDRESS !== undefined) {
      problems.push(
        '  LEADLINE_TEMPORAL_UI: server runs against the dev server npm start runs: unset TEMPORAL_ADDRESS',
      );
    }
    if (cfg.LEADLINE_ROLE !== 'all') {
      problems.push(
        `  LEADLINE_TEMPORAL_UI: server needs the API in this process, not LEADLINE_ROLE=${cfg.LEADLINE_ROLE}`,
      );
    }
    for (const name of ['TEMPORAL_UI_OIDC_CLIENT_ID', 'TEMPORAL_UI_OIDC_CLIENT_SECRET'] as const) {
      if (cfg.LEADLINE_OIDC_ISSUER !== undefined && cfg[name] === undefined) {
        problems.push(`  ${name}: needed when LEADLINE_TEMPORAL_UI is server and LEADLINE_OIDC_ISSUER is set`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`Leadline's configuration is not valid:\n${problems.join('\n')}`);
  return cfg;
}

/** The SLA policy in force: a validated file, or the defaults, with an optional time scale on top. */
export function loadSlaPolicy(cfg: Pick<LeadlineEnv, 'LEADLINE_SLA_POLICY' | 'LEADLINE_SLA_TIME_SCALE'>): SlaPolicy {
  let raw: unknown = defaultSlaPolicyInput;
  if (cfg.LEADLINE_SLA_POLICY !== undefined) {
    try {
      raw = JSON.parse(readFileSync(cfg.LEADLINE_SLA_POLICY, 'utf8'));
    } catch (error) {
      throw new Error(`cannot read the SLA policy ${cfg.LEADLINE_SLA_POLICY}: ${(error as Error).message}`);
    }
  }
  const withScale =
    cfg.LEADLINE_SLA_TIME_SCALE === undefined ? raw : { ...(raw as object), timeScale: cfg.LEADLINE_SLA_TIME_SCALE };
  const parsed = SlaPolicy.safeParse(withScale);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`the SLA policy is not valid:\n${problems}`);
  }
  return parsed.data;
}

/**
 * How to reach Temporal: the address, TLS when the configuration asks for it (TEMPORAL_TLS*), and an API key
 * (TEMPORAL_API_KEY). The dev server that
 * `npm start` runs on loopback takes plain connections; a cluster outside the machine should be reached over TLS.
 */
export function temporalConnectionOptions(
  cfg: Pick<
    LeadlineEnv,
    | 'TEMPORAL_TLS'
    | 'TEMPORAL_TLS_CA'
    | 'TEMPORAL_TLS_CERT'
    | 'TEMPORAL_TLS_KEY'
    | 'TEMPORAL_TLS_SERVER_NAME'
    | 'TEMPORAL_API_KEY'
  >,
  address: string,
): { address: string; tls?: TLSConfig | boolean; apiKey?: string } {
  const apiKey = cfg.TEMPORAL_API_KEY;
  const transport = tlsOptions(cfg, address);
  if (apiKey === undefined) return transport;
  // A key travels in a header: over TLS by default (Temporal Cloud requires it), in clear only when asked for. The SDK
  // turns TLS on by itself for an API key unless told `false`, so `false` is said, not left out.
  const tls = transport.tls ?? cfg.TEMPORAL_TLS !== 'false';
  return { ...transport, tls, apiKey };
}

function tlsOptions(
  cfg: Pick<
    LeadlineEnv,
    'TEMPORAL_TLS' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_SERVER_NAME'
  >,
  address: string,
): { address: string; tls?: TLSConfig | true } {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read ${what} ${path}: ${(error as Error).message}`);
    }
  };
  const files = [cfg.TEMPORAL_TLS_CA, cfg.TEMPORAL_TLS_CERT, cfg.TEMPORAL_TLS_SERVER_NAME].some((v) => v !== undefined);
  if (cfg.TEMPORAL_TLS === 'false' || (cfg.TEMPORAL_TLS === undefined && !files)) return { address };
  if (!files) return { address, tls: true };
  const tls: TLSConfig = {
    ...(cfg.TEMPORAL_TLS_CA === undefined
      ? {}
      : { serverRootCACertificate: read(cfg.TEMPORAL_TLS_CA, 'TEMPORAL_TLS_CA') }),
    ...(cfg.TEMPORAL_TLS_SERVER_NAME === undefined ? {} : { serverNameOverride: cfg.TEMPORAL_TLS_SERVER_NAME }),
    ...(cfg.TEMPORAL_TLS_CERT === undefined || cfg.TEMPORAL_TLS_KEY === undefined
      ? {}
      : {
          clientCertPair: {
            crt: read(cfg.TEMPORAL_TLS_CERT, 'TEMPORAL_TLS_CERT'),
            key: read(cfg.TEMPORAL_TLS_KEY, 'TEMPORAL_TLS_KEY'),
          },
        }),
  };
  return { address, tls };
}
