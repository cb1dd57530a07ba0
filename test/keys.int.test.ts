import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDirectory } from '../activities/directory';
import { createEventStore } from '../activities/event-store';
import { bindKeyring } from '../activities/field-crypto';
import { Keyring } from '../activities/keyring';
import { createActivities, projectLead } from '../activities/lead-activities';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { createLogAdapter } from '../activities/notifications/log';
import { createLeadReadModel } from '../activities/read-model';
import { runCli } from '../client/cli';
import { LeadClient } from '../client/lead-client';
import { LeadPayloadCodec } from '../activities/payload-codec';
import { createLeadWorker } from '../worker/worker';
import { loadKeyring } from '../activities/keys';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer, workflowBundle } from './support/temporal';
import { waitFor } from './support/wait';

/*
 * Key rotation with real Temporal and PostgreSQL: a lead begun under the first key keeps working once `leadline keys
 * rotate` has made a second key current (its Temporal history and its rows still decrypt, a command on it is recorded
 * under the new key, verify finds nothing), and `npm start` refuses, naming the key ids, when its keyring lacks them.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

describe('key rotation', () => {
  let env: TestWorkflowEnvironment;
  let stack: TestStack;
  const keyringFile = join(mkdtempSync(join(tmpdir(), 'leadline-keyring-')), 'keyring.json');
  const first = Keyring.single(randomBytes(32));
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    writeFileSync(keyringFile, JSON.stringify(first.toJson()), { mode: 0o600 });
    env = await startDevServer();
    stack = await startStack(env, { keyring: first });
  }, 120_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await stack?.stop();
    await env?.teardown();
  });

  const cliEnv = () => ({
    ...process.env,
    DATABASE_URL: stack.db.appUrl,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    LEADLINE_TASK_QUEUE: stack.taskQueue,
    LEADLINE_KEYRING: keyringFile,
    LEADLINE_PAYLOAD_KEY: '',
  });
  async function cli(args: string[], environment: NodeJS.ProcessEnv = cliEnv()) {
    const out: string[] = [];
    const code = await runCli(['--actor', 'cli:test', ...args], {
      out: (s) => out.push(s),
      err: (s) => out.push(s),
      env: environment,
    });
    return { code, out: out.join('') };
  }

  it('keeps leads begun under the old key working after keys rotate, and refuses a start without their keys', async () => {
    const by = { actor: 'supervisor:keys' };
    const old = await stack.client.submitLead(sampleIntakeInputs()['ngo-farmworkers']!, by);
    await waitFor(async () => (await stack.client.getLead(old.leadId)).state.status === 'assigned');
    await stack.client.command(old.leadId, 'AddNote', { text: 'before the rotation' }, by);

    const rotated = await cli(['keys', 'rotate']);
    expect(rotated.code, rotated.out).toBe(0);
    const second = loadKeyring({ LEADLINE_DATA_DIR: '/nonexistent', LEADLINE_KEYRING: keyringFile }).keyring;
    expect(second.currentId).not.toBe(first.currentId);
    expect(second.ids()).toEqual([first.currentId, second.currentId]);
    expect(rotated.out).toContain(`current key ${second.currentId} (was ${first.currentId})`);
    expect(rotated.out).not.toContain(second.current.key.toString('base64'));

    // The restart: the old worker stops; a worker, a client and the pool take the rotated keyring.
    stack.worker.shutdown();
    await waitFor(() => Promise.resolve(stack.worker.getState() === 'STOPPED'), 'the old worker to stop');
    bindKeyring(stack.db.pool, second);
    const codec = new LeadPayloadCodec(second);
    const adapter = createLogAdapter({ write: () => undefined });
    const worker = await createLeadWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: stack.taskQueue,
      workflowBundle: await workflowBundle(),
      payloadCodec: codec,
      activities: createActivities({
        pool: stack.db.pool,
        store: createEventStore(stack.db.pool, projectLead),
        directory: await loadDirectory(),
        delivery: createNotificationDelivery({ pool: stack.db.pool, adapters: [adapter] }),
        channels: [adapter.channel],
        fingerprintKey: TEST_FINGERPRINT_KEY,
      }),
    });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
    });
    const client = new LeadClient({
      leadIdKey: TEST_FINGERPRINT_KEY,
      temporal: new Client({
        connection: env.connection,
        namespace: env.namespace ?? 'default',
        dataConverter: { payloadCodecs: [codec] },
      }),
      taskQueue: stack.taskQueue,
      policy: stack.policy,
      readModel: createLeadReadModel(stack.db.pool),
    });

    // The old lead: its history (sealed under the first key) replays on the new worker, a command is recorded.
    const snapshot = await client.command(old.leadId, 'AddNote', { text: 'after the rotation' }, by);
    expect(snapshot.state.noteCount).toBe(2);
    const fresh = await client.submitLead(sampleIntakeInputs()['hhs-tipline-minor']!, by);
    await waitFor(async () => (await client.getLead(fresh.leadId)).state.status === 'assigned');

    // Its intake still opens; each row names the key it was written under.
    const events = await createEventStore(stack.db.pool, projectLead).readEvents(old.leadId);
    expect((events[0]?.data as { intake: { summary: string } }).intake.summary).toBe(
      sampleIntakeInputs()['ngo-farmworkers']!.summary,
    );
    const { rows } = await stack.db.pool.query<{ lead_id: string; type: string; key_id: string }>(
      'SELECT lead_id, type, key_id FROM lead_events WHERE lead_id = ANY($1) ORDER BY lead_id, seq',
      [[old.leadId, fresh.leadId]],
    );
    const keyOf = (leadId: string, type: string) =>
      rows.filter((r) => r.lead_id === leadId && r.type === type).map((r) => r.key_id);
    expect(keyOf(old.leadId, 'LeadReceived')).toEqual([first.currentId]);
    expect(keyOf(old.leadId, 'NoteAdded')).toEqual([first.currentId, second.currentId]);
    expect(keyOf(fresh.leadId, 'LeadReceived')).toEqual([second.currentId]);

    // The workflow, the read model and the log agree for every open lead.
    const verified = await cli(['verify']);
    expect(verified.out).toContain('0 differences');
    expect(verified.code).toBe(0);
    await expect(cli(['keys', 'list', '--check'])).resolves.toMatchObject({ code: 0 });

    // A start whose keyring lacks the keys the stored leads need refuses, naming them.
    const stranger = randomBytes(32).toString('base64');
    const withoutKeys = { ...cliEnv(), LEADLINE_KEYRING: '', LEADLINE_PAYLOAD_KEY: stranger };
    const listed = await cli(['keys', 'list', '--check'], withoutKeys);
    expect(listed.code).toBe(1);
    const needed = [first.currentId, second.currentId].sort().join(', ');
    expect(listed.out).toContain(`stored leads need keys the keyring lacks: ${needed}`);
    const startDir = mkdtempSync(join(tmpdir(), 'leadline-start-'));
    const start = await run(process.execPath, ['--import', './worker/tsx-main-thread.mjs', 'worker/start.ts'], {
      cwd: root,
      env: {
        ...withoutKeys,
        LEADLINE_ROLE: 'worker',
        LEADLINE_FINGERPRINT_KEY: 'a-test-fingerprint-key-of-its-own',
        DATABASE_ADMIN_URL: stack.db.adminUrl,
        LEADLINE_DATA_DIR: startDir,
        LEADLINE_RECONCILE_INTERVAL: 'off',
        LOG_LEVEL: 'error',
      },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, output: '' }),
      // Leadline logs one shape, pino's lines on stdout, its failure to start among them.
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code,
        output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    );
    rmSync(startDir, { recursive: true, force: true });
    expect(start.code).toBe(1);
    expect(start.output).toContain(
      `Leadline did not start: PostgreSQL's stored leads are encrypted with key ${needed}, which the keyring does not hold`,
    );
  }, 180_000);
});
