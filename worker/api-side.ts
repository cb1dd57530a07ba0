import { createLegacyLeadIdLookup, legacyLeadIdsInUse } from '../activities/legacy-lead-ids';
import { Client, Connection } from '@temporalio/client';
import { createPool } from '../activities/db';
import { isDatabaseUnavailable } from '../activities/database-errors';
import { createLogger } from '../activities/logger';
import { loadDirectory } from '../activities/directory';
import { recordAudit } from '../activities/event-store';
import { createIntakeQueue } from '../activities/intake-queue';
import { bindKeyring } from '../activities/field-crypto';
import { Keyring, type KeyringJson } from '../activities/keyring';
import { createLeadReadModel } from '../activities/read-model';
import { createAccessStore } from '../activities/access-store';
import { createReportStore } from '../activities/reports';
import { createTokenVerifier } from '../client/authenticate';
import { GuardedLeads } from '../client/guarded-leads';
import { GuardedReports } from '../client/guarded-reports';
import { GuardedPartnerLeads } from '../client/guarded-partner-leads';
import { createPartnerLeadStore } from '../activities/partner-store';
import { buildApi } from '../client/http';
import { LeadClient, type LeadIntakeQueue } from '../client/lead-client';
import type pg from 'pg';
import { LeadPayloadCodec } from '../activities/payload-codec';
import { workerPollingCheck } from '../client/readiness';
import type { SlaPolicy } from '../schemas/sla-policy';
import { temporalConnectionOptions, type LeadlineEnv } from '../activities/config';
import { startIntakeForwarder } from './intake-forwarder';
import { keysReadinessCheck } from '../activities/keys';

/** What the API side needs; plain data, so it can be handed to a thread of its own. */
export interface ApiSideOptions {
  cfg: LeadlineEnv;
  databaseUrl: string;
  temporalAddress: string;
  /** The workers' keyring, as plain data: it seals payloads for Temporal and the intake queue's rows. */
  keyring: KeyringJson;
  policy: SlaPolicy;
}

/** What an API side in the process's own thread (LEADLINE_ROLE=api) uses instead of opening a second of each. */
export interface ApiSideConnections {
  pool: pg.Pool;
  connection: Connection;
}

export interface ApiSide {
  url: string;
  /** Stops the API, then the intake forwarder, then closes its connections. */
  stop(): Promise<void>;
}

/**
 * The LeadClient of a Leadline process: its read model and the audit of refused commands in `pool`; with `offices`
 * (the directory's ids), commands naming another office are refused before they are sent.
 */
export function leadClientFor(deps: {
  temporal: Client;
  pool: pg.Pool;
  cfg: LeadlineEnv;
  policy: SlaPolicy;
  intakeQueue?: LeadIntakeQueue;
  offices?: readonly string[];
  /** Look for leads Leadline 1.0.0 named by their key's unkeyed hash (activities/legacy-lead-ids.ts). */
  legacyLeadIds?: boolean;
}): LeadClient {
  const { temporal, pool, cfg, policy, intakeQueue, offices } = deps;
  return new LeadClient({
    ...(deps.legacyLeadIds === true ? { legacyLeadIds: createLegacyLeadIdLookup(pool) } : {}),
    leadIdKey: cfg.LEADLINE_FINGERPRINT_KEY,
    temporal,
    taskQueue: cfg.LEADLINE_TASK_QUEUE,
    policy,
    readModel: createLeadReadModel(pool),
    ...(offices === undefined ? {} : { offices }),
    ...(intakeQueue === undefined ? {} : { intakeQueue }),
    maxSubmissionsInFlight: cfg.LEADLINE_MAX_SUBMISSIONS_IN_FLIGHT,
    workflowTaskTimeoutSeconds: cfg.LEADLINE_WORKFLOW_TASK_TIMEOUT,
    onCommandRefused: (entry) =>
      recordAudit(pool, {
        actor: entry.actor,
        leadId: entry.leadId,
        action: entry.command,
        outcome: entry.outcome,
        detail: { reason: entry.reason },
      }),
  });
}

/**
 * The HTTP API and the intake forwarder. On a thread beside the worker (`all`) they open connections of their own
 * (PostgreSQL, Temporal), so they run on an event loop of their own; in an API process (LEADLINE_ROLE=api) they use
 * the process's (`shared`), which they leave open when they stop.
 */
export async function startApiSide(options: ApiSideOptions, shared?: ApiSideConnections): Promise<ApiSide> {
  const { cfg } = options;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const { pool, connection } = shared ?? (await openConnections(options, stops));
    const keyring = Keyring.fromJson(options.keyring, "the API side's options");
    bindKeyring(pool, keyring);
    const payloadCodec = new LeadPayloadCodec(keyring);
    const temporal = new Client({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      dataConverter: { payloadCodecs: [payloadCodec] },
    });
    const intakeQueue = createIntakeQueue(pool);
    // Accepted leads wait in PostgreSQL until this side's forwarder starts them.
    // The worker routes and notifies from the same file: an office the API takes is one the worker knows.
    const directory = await loadDirectory(cfg.LEADLINE_DIRECTORY);
    const offices = directory.offices.map((office) => office.id);
    // A store that ran 1.0.0 may be sent its keys again; one that never did is not searched for its ids. Unknown
    // (PostgreSQL away at start): searched, which costs a lookup per keyed submission and never a second lead. Any
    // other failure is a fault to see, not a reason to search for ever.
    const legacyLeadIds = await legacyLeadIdsInUse(pool).catch((error: unknown) => {
      if (isDatabaseUnavailable(error)) return true;
      throw error;
    });
    const leads = leadClientFor({
      temporal,
      pool,
      cfg,
      policy: options.policy,
      intakeQueue,
      offices,
      legacyLeadIds,
    });
    const log = createLogger({ name: 'intake-forwarder', level: cfg.LOG_LEVEL });
    const forwarder = startIntakeForwarder({
      queue: intakeQueue,
      leads,
      pool,
      log: (level, message, fields) => log[level](fields, message),
    });
    stops.push(() => forwarder.stop());
    const issuer = cfg.LEADLINE_OIDC_ISSUER;
    if (issuer === undefined) throw new Error('the API needs LEADLINE_OIDC_ISSUER: the OpenID provider it trusts');
    const accessStore = createAccessStore(pool);
    const api = await buildApi({
      leads: new GuardedLeads(leads, accessStore),
      reports: new GuardedReports(createReportStore(pool), accessStore, directory.offices, {
        inForce: options.policy,
      }),
      partnerLeads: new GuardedPartnerLeads(createPartnerLeadStore(pool, cfg.LEADLINE_FINGERPRINT_KEY), accessStore),
      payloadCodec,
      console: { issuer, clientId: cfg.LEADLINE_CONSOLE_CLIENT_ID, audience: cfg.LEADLINE_OIDC_AUDIENCE },
      ...(cfg.LEADLINE_TEMPORAL_UI_URL === undefined
        ? {}
        : { temporalUiOrigin: new URL(cfg.LEADLINE_TEMPORAL_UI_URL).origin }),
      authenticate: createTokenVerifier({
        issuer,
        audience: cfg.LEADLINE_OIDC_AUDIENCE,
        rolesClaim: cfg.LEADLINE_OIDC_ROLES_CLAIM,
        officesClaim: cfg.LEADLINE_OIDC_OFFICES_CLAIM,
        partnerClaim: cfg.LEADLINE_OIDC_PARTNER_CLAIM,
      }),
      checks: {
        temporal: async () => {
          // A deadline of its own: a call left retrying after the probe gave up outlives the connection.
          await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.getSystemInfo({}));
        },
        postgres: async () => {
          await pool.query('SELECT 1');
        },
        workers: workerPollingCheck({
          connection,
          namespace: cfg.TEMPORAL_NAMESPACE,
          taskQueue: cfg.LEADLINE_TASK_QUEUE,
        }),
        // Not ready while stored leads need a key this keyring lacks, or Temporal sent a payload under one.
        keys: keysReadinessCheck({ pool, keyring, codecMissing: () => payloadCodec.missingKeyIds() }),
      },
      logger: cfg.LOG_LEVEL === 'silent' ? false : createLogger({ name: 'api', level: cfg.LOG_LEVEL }),
    });
    const address = await api.listen({ host: cfg.HOST, port: cfg.PORT });
    stops.push(() => api.close());
    return { url: address.replace('[::1]', 'localhost'), stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function openConnections(options: ApiSideOptions, stops: (() => Promise<void>)[]): Promise<ApiSideConnections> {
  const pool = createPool(options.databaseUrl, {
    max: 10,
    queryTimeoutMs: options.cfg.LEADLINE_DB_QUERY_TIMEOUT * 1000,
  });
  stops.push(() => pool.end());
  const { cfg } = options;
  const connection = await Connection.connect(
    cfg.TEMPORAL_ADDRESS === undefined
      ? { address: options.temporalAddress }
      : temporalConnectionOptions(cfg, options.temporalAddress),
  );
  stops.push(() => connection.close());
  return { pool, connection };
}
