import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  bundleWorkflowCode,
  type NativeConnection,
  Worker,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type pg from 'pg';
import { createActivities, projectLead } from '../activities/lead-activities';
import { createEventStore } from '../activities/event-store';
import { loadDirectory } from '../activities/directory';
import { loadPartnerDirectory } from '../activities/partners';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { notificationAdapters } from '../activities/notifications/adapters';
import type { LeadActivities } from '../activities/contract';
import type { LeadlineEnv } from '../activities/config';
import type { PayloadCodec } from '@temporalio/common';
import { packagePath, runsCompiled } from '../activities/package-files';

export const workflowsPath = packagePath('workflows/index.ts');

export type WorkflowStackTraces = 'off' | 'full';

/**
 * How the workflow bundle is built. `off` preloads workflows/no-stack-traces.ts, which stops the SDK capturing a
 * stack for every promise (the bench: throughput +10 %, a command's p50 -5 ms); `full` keeps the SDK's default.
 */
export function leadBundlerOptions(stackTraces: WorkflowStackTraces): { preloadModules: string[] } {
  const preloadModules: string[] = [];
  if (stackTraces === 'off') preloadModules.push(packagePath('workflows/no-stack-traces.ts'));
  return { preloadModules };
}

/** Where `npm run build` leaves the workflow bundle for a stack-trace setting, beside the compiled code. */
export function prebuiltBundlePath(stackTraces: WorkflowStackTraces): string {
  return packagePath(`dist/node/workflow-bundle/stack-traces-${stackTraces}.js`);
}

/** Bundles `workflows/` once per stack-trace setting for the compiled worker (scripts/build.mjs); returns the paths. */
export async function writeWorkflowBundles(): Promise<string[]> {
  const written: string[] = [];
  for (const stackTraces of ['off', 'full'] as const) {
    const { code } = await bundleWorkflowCode({
      workflowsPath,
      ...leadBundlerOptions(stackTraces),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    const path = prebuiltBundlePath(stackTraces);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, code);
    written.push(path);
  }
  return written;
}

/**
 * The workflow code a worker runs. From source (`npm start`, the tests) the SDK bundles `workflows/` at start. The
 * compiled worker loads the bundle `npm run build` made from the same commit: the SDK's bundler compiles TypeScript,
 * so bundling at start would need the workflow sources in the image; prebuilt, every worker of a release runs the
 * same bytes and starts without bundling (a few seconds of CPU each).
 */
function workflowCode(
  stackTraces: WorkflowStackTraces,
): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'bundlerOptions'> {
  if (!runsCompiled) return { workflowsPath, bundlerOptions: leadBundlerOptions(stackTraces) };
  const codePath = prebuiltBundlePath(stackTraces);
  if (!existsSync(codePath)) {
    throw new Error(`the workflow bundle ${codePath} is missing: \`npm run build\` writes it beside the compiled code`);
  }
  return { workflowBundle: { codePath } };
}

export interface LeadWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: LeadActivities;
  /** A prebuilt bundle (tests build one per file); otherwise the worker bundles `workflows/` itself. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  maxConcurrentActivityTaskExecutions?: number;
  /** Leads kept in the workflow cache; unset: the SDK's default, which grows with the heap limit. */
  cachedLeads?: number;
  /** Encrypts what the worker writes to Temporal's history (see activities/payload-codec.ts). */
  payloadCodec?: PayloadCodec;
  /** Whether workflow code keeps its stack traces (LEADLINE_WORKFLOW_STACK_TRACES); unset: `off`. */
  workflowStackTraces?: WorkflowStackTraces;
  /** LEADLINE_STICKY_QUEUE_TIMEOUT in seconds; unset: 3, the configuration's default. */
  stickyQueueTimeoutSeconds?: number;
}

export async function createLeadWorker(options: LeadWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : workflowCode(options.workflowStackTraces ?? 'off')),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 100,
    // A task for a lead cached by a worker that died waits this long on its sticky queue before another worker may
    // take it: the SDK's 10 s made rungs due during an outage fire 10 s after a worker returned (npm run faults).
    stickyQueueScheduleToStartTimeout: (options.stickyQueueTimeoutSeconds ?? 3) * 1000,
    ...(options.cachedLeads === undefined ? {} : { maxCachedWorkflows: options.cachedLeads }),
    ...(options.payloadCodec ? { dataConverter: { payloadCodecs: [options.payloadCodec] } } : {}),
  });
}

/** Builds the activities from configuration: the event store, the directory and the notification channels. */
export async function leadActivitiesFromConfig(pool: pg.Pool, cfg: LeadlineEnv): Promise<LeadActivities> {
  const adapters = notificationAdapters(cfg);
  return createActivities({
    pool,
    store: createEventStore(pool, projectLead),
    directory: await loadDirectory(cfg.LEADLINE_DIRECTORY),
    delivery: createNotificationDelivery({ pool, adapters }),
    channels: adapters.map((a) => a.channel),
    fingerprintKey: cfg.LEADLINE_FINGERPRINT_KEY,
    partners: await loadPartnerDirectory(cfg.LEADLINE_PARTNERS),
    ...(cfg.LEADLINE_PUBLIC_URL ? { linkBase: cfg.LEADLINE_PUBLIC_URL } : {}),
  });
}
