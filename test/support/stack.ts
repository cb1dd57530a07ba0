import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { LeadPayloadCodec } from '../../activities/payload-codec';
import { bindKeyring } from '../../activities/field-crypto';
import type { Keyring } from '../../activities/keyring';
import { loadDirectory } from '../../activities/directory';
import { loadPartnerDirectory, type PartnerDirectory } from '../../activities/partners';
import { createEventStore, recordAudit } from '../../activities/event-store';
import type { LeadActivities } from '../../activities/contract';
import { createActivities, projectLead } from '../../activities/lead-activities';
import { createNotificationDelivery } from '../../activities/notifications/deliver';
import { createLogAdapter } from '../../activities/notifications/log';
import type { NotificationAdapter } from '../../activities/notifications/types';
import { createLeadReadModel } from '../../activities/read-model';
import { LeadClient, type LeadClientOptions } from '../../client/lead-client';
import type { SlaPolicy } from '../../schemas/sla-policy';
import { defaultSlaPolicy } from '../../schemas/sla-policy';
import { createLeadWorker } from '../../worker/worker';
import { freshDatabase, type FreshDatabase } from './postgres';
import { workflowBundle } from './temporal';

import { TEST_FINGERPRINT_KEY } from './fingerprint';
export { TEST_FINGERPRINT_KEY };

export interface TestStack {
  db: FreshDatabase;
  worker: Worker;
  client: LeadClient;
  /** A Temporal client that encrypts and decrypts payloads as the worker does. */
  temporal: Client;
  payloadCodec: LeadPayloadCodec;
  taskQueue: string;
  notices: string[];
  policy: SlaPolicy;
  /**
   * Another LeadClient on this stack (its key, Temporal client, task queue, policy and read model), with `options` on
   * top: a test's own deadline, intake queue or limit. `client` has the API side's office list and refusal audit too.
   */
  leadClient(options?: Partial<LeadClientOptions>): LeadClient;
  /** Starts the worker, when `deferWorker` held it back. */
  startWorker(): void;
  /** Stops the worker, then drops the database. */
  stop(): Promise<void>;
}

/** Real activities on a fresh database, a worker on its own task queue, and a LeadClient over both. */
export async function startStack(
  env: TestWorkflowEnvironment,
  options: {
    policy?: SlaPolicy;
    adapters?: NotificationAdapter[];
    /** Wraps the real activities, e.g. to fail one after its work is done. */
    wrapActivities?: (activities: LeadActivities) => LeadActivities;
    /** The payload key (32 bytes); unset: a random one. */
    payloadKey?: Buffer;
    /** The keyring, for tests of rotation; wins over `payloadKey`. */
    keyring?: Keyring;
    /** The partner directory; unset: the shipped config/partners.json. */
    partners?: PartnerDirectory;
    /** Leaves the worker stopped until `startWorker()`, e.g. for another process to work the leads first. */
    deferWorker?: boolean;
  } = {},
): Promise<TestStack> {
  const db = await freshDatabase();
  const notices: string[] = [];
  const policy = options.policy ?? defaultSlaPolicy();
  const adapters = options.adapters ?? [createLogAdapter({ write: (line) => notices.push(line) })];
  // One keyring for Temporal's payloads and the database's sealed fields, as a Leadline process has.
  const payloadCodec = new LeadPayloadCodec(options.keyring ?? options.payloadKey ?? randomBytes(32));
  bindKeyring(db.pool, payloadCodec.keyring);
  const directory = await loadDirectory();
  const real = createActivities({
    pool: db.pool,
    store: createEventStore(db.pool, projectLead),
    directory,
    delivery: createNotificationDelivery({ pool: db.pool, adapters }),
    channels: adapters.map((a) => a.channel),
    fingerprintKey: TEST_FINGERPRINT_KEY,
    partners: options.partners ?? (await loadPartnerDirectory()),
  });
  const activities = options.wrapActivities ? options.wrapActivities(real) : real;
  const taskQueue = `leads-${randomUUID()}`;
  const temporal = new Client({
    connection: env.connection,
    namespace: env.namespace ?? 'default',
    dataConverter: { payloadCodecs: [payloadCodec] },
  });
  const worker = await createLeadWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    activities,
    workflowBundle: await workflowBundle(),
    payloadCodec,
  });
  const client = new LeadClient({
    leadIdKey: TEST_FINGERPRINT_KEY,
    temporal,
    taskQueue,
    policy,
    readModel: createLeadReadModel(db.pool),
    // As the API side has it: commands naming an office outside the directory are refused.
    offices: directory.offices.map((office) => office.id),
    onCommandRefused: (entry) =>
      recordAudit(db.pool, {
        actor: entry.actor,
        leadId: entry.leadId,
        action: entry.command,
        outcome: entry.outcome,
        detail: { reason: entry.reason },
      }),
  });
  let running: Promise<void> | undefined;
  const startWorker = () => {
    running ??= worker.run();
  };
  if (options.deferWorker !== true) startWorker();
  const leadClient = (overrides: Partial<LeadClientOptions> = {}) =>
    new LeadClient({
      leadIdKey: TEST_FINGERPRINT_KEY,
      temporal,
      taskQueue,
      policy,
      readModel: createLeadReadModel(db.pool),
      ...overrides,
    });
  return {
    leadClient,
    startWorker,
    db,
    worker,
    client,
    temporal,
    payloadCodec,
    taskQueue,
    notices,
    policy,
    async stop() {
      if (running !== undefined) {
        // A test may have stopped it already (a restart under another keyring, say).
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
      }
      await db.drop();
    },
  };
}
