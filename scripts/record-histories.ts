// Records the lead workflow's histories that the replay test checks new workflow code against, one set per release
// into test/fixtures/histories/<release>/: `npx tsx scripts/record-histories.ts 1.0`. Run it for a new release whose
// workflow changed behind patched() (the sets of releases whose leads still run stay), or to add a scenario to the
// newest set. It uses the time-skipping test server and an embedded PostgreSQL, both real.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

const release = process.argv[2] ?? '';
if (!/^\d+\.\d+$/.test(release)) {
  console.error(
    'usage: npx tsx scripts/record-histories.ts <release>, e.g. 1.0 (the set goes to test/fixtures/histories/<release>/)',
  );
  process.exit(2);
}
const out = fileURLToPath(new URL(`../test/fixtures/histories/${release}/`, import.meta.url));
await mkdir(out, { recursive: true });
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
const leads = new LeadClient({
  temporal: env.client,
  taskQueue,
  policy,
  readModel: createLeadReadModel(pool),
  leadIdKey: 'record-histories',
});
const samples = sampleIntakeInputs();
const actor = { actor: 'agent:recorder' };

async function save(name: string, leadId: string, runId?: string) {
  const history = await env.client.workflow.getHandle(leadWorkflowId(leadId), runId).fetchHistory();
  // Stored as protobufjs' object form (enums by name, bytes as base64); the replay test reads it with fromObject.
  const { History } = proto.temporal.api.history.v1;
  const message = History.decode(History.encode(history).finish());
  const json = History.toObject(message, { longs: String, enums: String, bytes: String });
  await writeFile(join(out, `${name}.json`), `${JSON.stringify(json, null, 1)}\n`);
  console.log(`recorded ${release}/${name} (${history.events?.length ?? 0} events)`);
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

  // An NGO's tip: its partner waits unacknowledged (no office serves the place, and the assignment below is by hand),
  // so the partner ladder's rungs are in the history too, and the partner is acknowledged by hand.
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
  await leads.command(escalated.leadId, 'AcknowledgePartner', {}, actor);
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

  // The contact-safety rules and a stabilisation pause, on an urgent tip about a minor: an interview request refused
  // while contact is unsafe and without a victim specialist (its validator refuses it, so the history holds no trace), a pause for victim care whose expected end passes
  // (a reminder, sent from the worker first), then the interview and the case, each a milestone the partner hears of.
  const cared = await leads.submitLead(samples['hhs-tipline-minor']!, { actor: 'svc:recorder' });
  await until(cared.leadId, 'assigned');
  await leads.command(cared.leadId, 'RecordSafety', { safeToContact: 'no' }, actor);
  const interview = {
    scheduledFor: '2026-12-02T15:00:00.000Z',
    place: 'child advocacy centre',
    victimSpecialist: true,
  };
  const refused = await leads
    .command(cared.leadId, 'RequestInterview', { ...interview, victimSpecialist: false }, actor)
    .then(
      () => false,
      () => true,
    );
  if (!refused) throw new Error('RequestInterview was accepted while contact is unsafe');
  const now = await env.currentTimeMs();
  await leads.command(
    cared.leadId,
    'PauseForStabilisation',
    { category: 'shelter', expectedEnd: new Date(now + 2 * 3_600_000).toISOString() },
    actor,
  );
  await env.sleep('3 hours');
  await leads.command(cared.leadId, 'ResumeSla', {}, actor);
  await leads.command(cared.leadId, 'RecordSafety', { safeToContact: 'yes' }, actor);
  await leads.command(cared.leadId, 'RequestInterview', interview, actor);
  await leads.command(cared.leadId, 'CompleteInterview', { outcome: 'victim_identified' }, actor);
  await leads.command(cared.leadId, 'OpenCase', { caseNumber: 'HSI-HOU-2026-0007' }, actor);
  await env.client.workflow.getHandle(leadWorkflowId(cared.leadId)).result();
  await save('safety-and-stabilisation', cared.leadId);

  // A long-lived lead: 200 notes make its first run long enough that 1.1 continues it as new at 1,000 events (before
  // 1.1 a run waited for the server's suggestion, at about 4,000). Its first run is what a replay must get right.
  const long = await leads.submitLead(
    { ...samples['ngo-farmworkers']!, externalReference: 'LONG-LEAD' },
    { actor: 'svc:recorder' },
  );
  await until(long.leadId, 'assigned');
  const longHandle = env.client.workflow.getHandle(leadWorkflowId(long.leadId));
  const firstRun = (await longHandle.describe()).runId;
  for (let i = 0; i < 200; i++) await leads.command(long.leadId, 'AddNote', { text: `note ${i}` }, actor);
  await leads.command(long.leadId, 'CloseLead', { reason: 'referred_to_other_agency' }, actor);
  await longHandle.result();
  await save('long-lead-first-run', long.leadId, firstRun);
});

await env.teardown();
await pool.end();
await pg.stop();
await rm(dataDir, { recursive: true, force: true });
