// Records the lead workflow's histories that the replay test checks new workflow code against.
// Run it when a change to workflows/ is meant to be incompatible (and then version the workflow), or
// to add a scenario: `npx tsx scripts/record-histories.ts`. It uses the time-skipping test server and
// an embedded PostgreSQL, both real.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { loadDirectory } from '../activities/directory';
import { createEventStore } from '../activities/event-store';
import { createActivities, projectLead } from '../activities/lead-activities';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { createLogAdapter } from '../activities/notifications/log';
import { createLeadReadModel } from '../activities/read-model';
import { createPool, freePort, startEmbeddedPostgres } from '../activities/db';
import { bindKeyring } from '../activities/field-crypto';
import { Keyring } from '../activities/keyring';
import { LeadClient } from '../client/lead-client';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { leadWorkflowId } from '../workflows/messages';
import { createLeadWorker } from '../worker/worker';
import { sampleIntakeInputs } from '../test/support/lead-fixtures';
import { startTimeSkippingServer, workflowBundle } from '../test/support/temporal';

const out = fileURLToPath(new URL('../test/fixtures/histories/', import.meta.url));
// Histories of every workflow version stay: `RECORD_SUFFIX=-v3 npx tsx scripts/record-histories.ts` adds a set.
const suffix = process.env.RECORD_SUFFIX ?? '';
const dataDir = await mkdtemp(join(tmpdir(), 'leadline-record-'));
const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false });
const pool = createPool(pg.appUrl);
// The recording's database is thrown away; its sealed fields need a key all the same.
bindKeyring(pool, Keyring.single(randomBytes(32)));
const env = await startTimeSkippingServer();
const policy = defaultSlaPolicy();
const taskQueue = 'record-histories';
const worker = await createLeadWorker({
  connection: env.nativeConnection,
  namespace: 'default',
  taskQueue,
  workflowBundle: await workflowBundle(),
  activities: createActivities({
    pool,
    store: createEventStore(pool, projectLead),
    directory: await loadDirectory(),
    delivery: createNotificationDelivery({ pool, adapters: [createLogAdapter({ write: () => undefined })] }),
    channels: ['log'],
    fingerprintKey: 'record-histories',
  }),
});
const leads = new LeadClient({ temporal: env.client, taskQueue, policy, readModel: createLeadReadModel(pool) });
const samples = sampleIntakeInputs();
const actor = { actor: 'agent:recorder' };

async function save(name: string, leadId: string) {
  const history = await env.client.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
  // Stored as protobufjs' object form (enums by name, bytes as base64); the replay test reads it with fromObject.
  const { History } = proto.temporal.api.history.v1;
  const message = History.decode(History.encode(history).finish());
  const json = History.toObject(message, { longs: String, enums: String, bytes: String });
  await writeFile(join(out, `${name}${suffix}.json`), `${JSON.stringify(json, null, 1)}\n`);
  console.log(`recorded ${name}${suffix} (${history.events?.length ?? 0} events)`);
}
async function until(leadId: string, status: string) {
  for (let i = 0; i < 200 && (await leads.getLead(leadId)).state.status !== status; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

await worker.runUntil(async () => {
  const happy = await leads.submitLead(samples['newark-interview-request']!, { actor: 'svc:recorder' });
  await until(happy.leadId, 'assigned');
  await leads.command(happy.leadId, 'AddNote', { text: 'partner called back' }, actor);
  await leads.command(
    happy.leadId,
    'RequestInterview',
    {
      scheduledFor: '2026-12-02T15:00:00.000Z',
      place: 'field office',
      interpreterLanguage: 'vi',
      victimSpecialist: true,
    },
    actor,
  );
  await leads.command(happy.leadId, 'CompleteInterview', { outcome: 'victim_identified' }, actor);
  await leads.command(happy.leadId, 'OpenCase', { caseNumber: 'HSI-NWK-2026-0001' }, actor);
  await env.client.workflow.getHandle(leadWorkflowId(happy.leadId)).result();
  await save('happy-path', happy.leadId);

  // From leadline-v9 on, an NGO's tip rather than the public's: its partner waits unacknowledged (no office serves the
  // place, and the assignment below is by hand), so the partner ladder's rungs are in the history too.
  const escalated = await leads.submitLead(
    {
      ...samples['public-unknown-jurisdiction']!,
      source: 'ngo',
      partner: { organisation: 'Example outreach NGO', name: 'Caseworker', email: 'referrals@ngo.example.org' },
      flags: { imminentDanger: true, minorInvolved: false },
    },
    { actor: 'svc:recorder' },
  );
  await env.sleep('150 minutes');
  await leads.command(escalated.leadId, 'AcknowledgeEscalation', { note: 'HQ is on it' }, actor);
  await leads.command(escalated.leadId, 'PauseSla', { justification: 'victim stabilisation' }, actor);
  await env.sleep('1 hour');
  await leads.command(escalated.leadId, 'ResumeSla', {}, actor);
  await leads.command(escalated.leadId, 'AssignLead', { office: 'HSI-GULFCOAST' }, actor);
  await env.sleep('30 hours');
  await leads.command(escalated.leadId, 'CloseLead', { reason: 'unable_to_locate' }, actor);
  await env.client.workflow.getHandle(leadWorkflowId(escalated.leadId)).result();
  await save('escalated', escalated.leadId);

  const early = await leads.submitLead(samples['ngo-farmworkers']!, { actor: 'svc:recorder' });
  await until(early.leadId, 'assigned');
  await leads.command(early.leadId, 'ChangePriority', { priority: 'urgent', reason: 'minor identified' }, actor);
  await leads.command(early.leadId, 'CloseLead', { reason: 'referred_to_other_agency', note: 'DOL case' }, actor);
  await env.client.workflow.getHandle(leadWorkflowId(early.leadId)).result();
  await save('closed-early', early.leadId);
});

await env.teardown();
await pool.end();
await pg.stop();
await rm(dataDir, { recursive: true, force: true });
