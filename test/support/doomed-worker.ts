/**
 * A real worker in a child process, for tests that kill it with SIGKILL at a chosen moment: once an append whose
 * events include `LEADLINE_HANG_AFTER` has committed, it prints `committed <types>` and never answers, so the
 * workflow task that made the append can never complete. The test then kills this process, exactly as a worker
 * crash between the commit and the task's completion looks to Temporal and to the log.
 *
 * Environment: DATABASE_URL, TEMPORAL_ADDRESS, LEADLINE_TASK_QUEUE, LEADLINE_PAYLOAD_KEY (base64),
 * LEADLINE_HANG_AFTER (an event type); optionally LEADLINE_PARTNERS_JSON (a partner directory) with WEBHOOK_SECRET,
 * to tell partners through the webhook adapter as the replacing worker does.
 */
import { NativeConnection } from '@temporalio/worker';
import { installRuntime } from '../../worker/runtime';
import { createPool } from '../../activities/db';
import { loadDirectory } from '../../activities/directory';
import { createEventStore } from '../../activities/event-store';
import { createActivities, projectLead } from '../../activities/lead-activities';
import { createNotificationDelivery } from '../../activities/notifications/deliver';
import { createLogAdapter } from '../../activities/notifications/log';
import { createWebhookAdapter } from '../../activities/notifications/webhook';
import { parsePartnerDirectory } from '../../activities/partners';
import { LeadPayloadCodec } from '../../activities/payload-codec';
import { bindKeyring } from '../../activities/field-crypto';
import { createLeadWorker } from '../../worker/worker';
import { TEST_FINGERPRINT_KEY } from './fingerprint';

const need = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`doomed worker: ${name} is not set`);
  return value;
};

installRuntime('error');
const pool = createPool(need('DATABASE_URL'), { max: 3 });
const payloadCodec = new LeadPayloadCodec(Buffer.from(need('LEADLINE_PAYLOAD_KEY'), 'base64'));
// The test's own worker seals and opens the log with the same key.
bindKeyring(pool, payloadCodec.keyring);
const hangAfter = need('LEADLINE_HANG_AFTER');
const partnersJson = process.env.LEADLINE_PARTNERS_JSON;
const webhookSecret = process.env.WEBHOOK_SECRET;
const adapters = [
  createLogAdapter({ write: () => undefined }),
  ...(webhookSecret === undefined ? [] : [createWebhookAdapter({ secret: webhookSecret })]),
];
const real = createActivities({
  pool,
  store: createEventStore(pool, projectLead),
  directory: await loadDirectory(),
  delivery: createNotificationDelivery({ pool, adapters }),
  channels: adapters.map((adapter) => adapter.channel),
  fingerprintKey: TEST_FINGERPRINT_KEY,
  ...(partnersJson === undefined ? {} : { partners: parsePartnerDirectory(JSON.parse(partnersJson)) }),
});
let hung = false;
const worker = await createLeadWorker({
  connection: await NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') }),
  namespace: 'default',
  taskQueue: need('LEADLINE_TASK_QUEUE'),
  payloadCodec,
  activities: {
    ...real,
    async recordEvents(input) {
      if (hung) return new Promise<never>(() => undefined);
      const result = await real.recordEvents(input);
      if (input.events.some((event) => event.type === hangAfter)) {
        hung = true;
        process.stdout.write(`committed ${input.events.map((event) => event.type).join(',')}\n`);
        return new Promise<never>(() => undefined);
      }
      return result;
    },
  },
});
process.stdout.write('polling\n');
await worker.run();
