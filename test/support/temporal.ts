import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { leadSearchAttributes } from '../../workflows/messages';
import { temporalCliPath, temporalTestServerPath } from '../../worker/temporal-binaries';
import { leadBundlerOptions, workflowsPath } from '../../worker/worker';
import { ensureLeadNamespace } from '../../worker/temporal-server';
import { installRuntime } from '../../worker/runtime';

/** temporal.api.enums.v1.IndexedValueType numbers. */
const indexedValueType = { TEXT: 1, KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5, DATETIME: 6, KEYWORD_LIST: 7 } as const;

/** Workers log at WARN in tests, in Leadline's shape: the SDK's INFO lines drown a failure's output. */
function quietRuntime() {
  installRuntime('warn');
}

/** A real Temporal dev server on a free port, with the project's search attributes registered. */
export async function startDevServer(options: { extraArgs?: string[] } = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  if (process.env.TEMPORAL_ADDRESS) {
    // A server shared by every test file (npm run test:cluster): a namespace per file, as the dev server per file
    // keeps them apart. Sample leads' ids derive from their references, so two files would otherwise meet.
    const address = process.env.TEMPORAL_ADDRESS;
    const namespace = `test-${randomUUID()}`;
    const connection = await Connection.connect({ address });
    try {
      await ensureLeadNamespace(connection, namespace, 1);
    } finally {
      await connection.close();
    }
    return TestWorkflowEnvironment.createFromExistingServer({ address, namespace });
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: Object.values(leadSearchAttributes),
      ui: false,
      ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
      log: { format: 'pretty', level: 'warn' },
    },
  });
}

/** Temporal's time-skipping test server: timers pass as soon as nothing else is running. */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
  // The test server takes no flags for them, but accepts the operator call.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.values(leadSearchAttributes).map((key) => [key.name, indexedValueType[key.type]]),
    ),
  });
  return env;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  quietRuntime();
  bundle ??= bundleWorkflowCode({
    workflowsPath,
    // As npm start builds it (LEADLINE_WORKFLOW_STACK_TRACES defaults to off).
    ...leadBundlerOptions('off'),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
  return bundle;
}
