import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, createEventStore, rebuildReadModel, recordAudit } from '../activities/event-store';
import type { EventEnvelope, EventStore, Projection } from '../activities/event-store';
import { bindKeyring, FieldCrypto, fieldCryptoFor, isSealed, SealBrokenError } from '../activities/field-crypto';
import { Keyring, MissingKeyError } from '../activities/keyring';
import { freshDatabase, withAdmin } from './support/postgres';
import type { FreshDatabase } from './support/postgres';

const RECEIVED_AT = '2025-03-04T05:06:07.000Z';
const PLANTED_VICTIM_NAME = 'Planted Testvictim';

interface CounterState {
  count: number;
  types: string[];
  status: string;
  office: string | null;
}

// A stand-in for the domain's fold: enough to see that the store passes the previous state and the new events.
const project: Projection = (previous, events) => {
  const start: CounterState = (previous as CounterState | undefined) ?? {
    count: 0,
    types: [],
    status: 'received',
    office: null,
  };
  const state = events.reduce<CounterState>((folded, event) => {
    const data = event.data as { office?: string };
    return {
      count: folded.count + 1,
      types: [...folded.types, event.type],
      status: event.type === 'LeadAssigned' ? 'assigned' : event.type === 'LeadClosed' ? 'closed' : folded.status,
      office: data.office ?? folded.office,
    };
  }, start);
  return {
    status: state.status,
    priority: 'standard',
    source: 'ngo',
    kind: 'interview_request',
    office: state.office,
    agent: null,
    stage: state.status,
    stageDeadline: state.status === 'closed' ? null : '2025-03-05T05:06:07.000Z',
    escalationLevel: 0,
    slaPaused: false,
    caseNumber: null,
    closedReason: state.status === 'closed' ? 'invalid' : null,
    fingerprint: 'fp-test',
    receivedAt: RECEIVED_AT,
    state,
  };
};

function event(type: string, data: Record<string, unknown> = {}): EventEnvelope {
  return {
    eventId: randomUUID(),
    type,
    data,
    metadata: { actor: 'test:intake', at: new Date().toISOString(), commandId: randomUUID() },
  };
}

function received(): EventEnvelope {
  return event('LeadReceived', { intake: { victimName: PLANTED_VICTIM_NAME } });
}

/** Resolves once some backend waits on a lock held by `holder`'s transaction. */
async function waitForBlockedBackend(adminUrl: string, holder: pg.Client): Promise<void> {
  const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const holderPid = rows[0]?.pid;
  await withAdmin(adminUrl, async (observer) => {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const blocked = await observer.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))', [
        holderPid,
      ]);
      if (blocked.rowCount !== 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the append never blocked on the uncommitted row');
  });
}

async function eventCount(db: FreshDatabase, leadId: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM lead_events WHERE lead_id = $1', [
    leadId,
  ]);
  return result.rows[0]?.n ?? -1;
}

async function auditCount(db: FreshDatabase, leadId: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE lead_id = $1', [
    leadId,
  ]);
  return result.rows[0]?.n ?? -1;
}

describe('event store', () => {
  let db: FreshDatabase;
  let store: EventStore;
  const keyring = Keyring.single(randomBytes(32));

  beforeAll(async () => {
    db = await freshDatabase();
    bindKeyring(db.pool, keyring);
    store = createEventStore(db.pool, project);
  });

  afterAll(async () => {
    await db.drop();
  });

  it('writes an append executed twice only once', async () => {
    const leadId = randomUUID();
    const events = [received(), event('LeadValidated')];

    await expect(store.append(leadId, 0, events)).resolves.toEqual({ version: 2, duplicate: false });
    await expect(store.append(leadId, 0, events)).resolves.toEqual({ version: 2, duplicate: true });

    expect(await eventCount(db, leadId)).toBe(2);
    expect(await auditCount(db, leadId)).toBe(1);
    const lead = await store.readLead(leadId);
    expect(lead?.version).toBe(2);
    expect((lead?.state as CounterState).count).toBe(2);
  });

  it('appends in one statement for a new lead and in two after it, with no transaction of its own', async () => {
    const statements: string[] = [];
    // Every round trip the store makes: a query on the pool, or a client taken for a transaction.
    const counting = new Proxy(db.pool, {
      get(target, property) {
        if (property === 'query') {
          return (text: string, values?: unknown[]) => {
            statements.push(text);
            return target.query(text, values);
          };
        }
        if (property === 'connect') {
          return () => {
            statements.push('connect');
            return target.connect();
          };
        }
        return Reflect.get(target, property, target) as unknown;
      },
    });
    const counted = createEventStore(counting, project, fieldCryptoFor(db.pool));
    const leadId = randomUUID();

    await expect(counted.append(leadId, 0, [received()])).resolves.toEqual({ version: 1, duplicate: false });
    expect(statements).toEqual([expect.stringContaining('leadline_append(')]);
    await expect(counted.append(leadId, 1, [event('LeadValidated')])).resolves.toEqual({
      version: 2,
      duplicate: false,
    });
    expect(statements.slice(1)).toEqual([
      expect.stringContaining('SELECT version, state FROM leads'),
      expect.stringContaining('leadline_append('),
    ]);

    expect(await eventCount(db, leadId)).toBe(2);
    expect(await auditCount(db, leadId)).toBe(2);
    const lead = await store.readLead(leadId);
    expect(lead?.version).toBe(2);
    expect((lead?.state as CounterState).types).toEqual(['LeadReceived', 'LeadValidated']);
  });

  it('lets exactly one of several concurrent appends at the same version win', async () => {
    const leadId = randomUUID();
    await store.append(leadId, 0, [received()]);

    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, index) => store.append(leadId, 1, [event('NoteAdded', { index })])),
    );

    const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    expect(winners).toHaveLength(1);
    expect(winners[0]?.value).toEqual({ version: 2, duplicate: false });
    expect(losers).toHaveLength(5);
    for (const loser of losers) {
      expect(loser).toBeInstanceOf(ConcurrencyError);
      expect(loser).toMatchObject({ name: 'ConcurrencyError', leadId, expectedVersion: 1, actualVersion: 2 });
    }
    expect(await eventCount(db, leadId)).toBe(2);
    expect((await store.readLead(leadId))?.version).toBe(2);
  });

  it('reads events back in sequence order with their metadata', async () => {
    const leadId = randomUUID();
    const first = [received(), event('LeadValidated')];
    const second = event('LeadAssigned', { office: 'HSI-NEWARK' });
    const third = event('NoteAdded', { note: 'called partner' });

    await store.append(leadId, 0, first);
    await store.append(leadId, 2, [second]);
    await store.append(leadId, 3, [third]);

    const read = await store.readEvents(leadId);
    expect(read).toEqual([...first, second, third]);
    expect(await store.readEvents(randomUUID())).toEqual([]);

    const lead = await store.readLead(leadId);
    expect(lead).toMatchObject({
      status: 'assigned',
      office: 'HSI-NEWARK',
      version: 4,
      receivedAt: RECEIVED_AT,
      stageDeadline: '2025-03-05T05:06:07.000Z',
    });
    expect((lead?.state as CounterState).types).toEqual(['LeadReceived', 'LeadValidated', 'LeadAssigned', 'NoteAdded']);
    expect(await store.readLead(randomUUID())).toBeUndefined();
  });

  it('treats the retry of an append whose completion was lost as done, even after later appends', async () => {
    const leadId = randomUUID();
    const committed = [received()];
    await store.append(leadId, 0, committed);
    // The activity's completion was lost; meanwhile another command moved the lead on.
    await store.append(leadId, 1, [event('LeadValidated')]);

    await expect(store.append(leadId, 0, committed)).resolves.toEqual({ version: 1, duplicate: true });

    expect(await eventCount(db, leadId)).toBe(2);
    expect(await auditCount(db, leadId)).toBe(2);
    expect((await store.readLead(leadId))?.version).toBe(2);
  });

  it('fails a stale writer loudly, without personal data in the error', async () => {
    const leadId = randomUUID();
    await store.append(leadId, 0, [received(), event('LeadValidated')]);

    const error = await store.append(leadId, 1, [event('LeadRejected')]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect(error).toMatchObject({ expectedVersion: 1, actualVersion: 2 });
    expect(String((error as Error).message)).not.toContain(PLANTED_VICTIM_NAME);
    expect(await eventCount(db, leadId)).toBe(2);
  });

  it('keeps the intake, free text and command ids sealed at rest under the current key id, and reads them plain', async () => {
    const leadId = randomUUID();
    const events = [received(), event('NoteAdded', { text: 'Planted note about a witness' })];
    await store.append(leadId, 0, events);
    const { rows } = await db.pool.query<{
      data: Record<string, unknown>;
      metadata: { commandId: unknown };
      key_id: string;
    }>('SELECT data, metadata, key_id FROM lead_events WHERE lead_id = $1 ORDER BY seq', [leadId]);
    expect(isSealed(rows[0]?.data.intake)).toBe(true);
    expect(isSealed(rows[1]?.data.text)).toBe(true);
    expect(rows.every((row) => isSealed(row.metadata.commandId) && row.key_id === keyring.currentId)).toBe(true);
    const text = JSON.stringify(rows);
    for (const planted of [PLANTED_VICTIM_NAME, 'Planted note', ...events.map((e) => e.metadata.commandId)]) {
      expect(text).not.toContain(planted);
    }
    expect(await store.readEvents(leadId)).toEqual(events);
    expect((await store.readEventsAfter(leadId, 1)).map((e) => e.data)).toEqual([events[1]?.data]);
  });

  it('reads rows written before encryption as they are', async () => {
    const leadId = randomUUID();
    const metadata = { actor: 'test:old', at: RECEIVED_AT, commandId: 'old-command' };
    await db.pool.query(
      `INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata) VALUES ($1, 1, $2, 'NoteAdded', $3, $4)`,
      [leadId, randomUUID(), JSON.stringify({ text: 'an old note' }), JSON.stringify(metadata)],
    );
    expect((await store.readEvents(leadId)).map((e) => [e.data, e.metadata])).toEqual([
      [{ text: 'an old note' }, metadata],
    ]);
  });

  it('refuses a sealed value moved to another lead, and names the key a row needs when the keyring lacks it', async () => {
    const source = randomUUID();
    await store.append(source, 0, [received()]);
    const { rows } = await db.pool.query<{ data: unknown; metadata: unknown }>(
      'SELECT data, metadata FROM lead_events WHERE lead_id = $1',
      [source],
    );
    const target = randomUUID();
    await db.pool.query(
      `INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata, key_id)
       VALUES ($1, 1, $2, 'LeadReceived', $3, $4, $5)`,
      [target, randomUUID(), JSON.stringify(rows[0]?.data), JSON.stringify(rows[0]?.metadata), keyring.currentId],
    );
    await expect(store.readEvents(target)).rejects.toBeInstanceOf(SealBrokenError);

    const withoutTheKey = createEventStore(db.pool, project, new FieldCrypto(Keyring.single(randomBytes(32))));
    const refused = await withoutTheKey.readEvents(source).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MissingKeyError);
    expect((refused as MissingKeyError).keyIds).toEqual([keyring.currentId]);
    expect(String(refused)).not.toContain(PLANTED_VICTIM_NAME);
  });

  it('turns a lost race on the sequence number into a ConcurrencyError', async () => {
    const leadId = randomUUID();
    // A writer that does not take the store's lock holds seq 1 uncommitted while the store appends.
    await withAdmin(db.adminUrl, async (rogue) => {
      await rogue.query('BEGIN');
      await rogue.query(
        `INSERT INTO lead_events (lead_id, seq, event_id, type, data, metadata)
         VALUES ($1, 1, $2, 'LeadReceived', '{}', '{"actor":"rogue","at":"2025-01-01T00:00:00Z","commandId":"c"}')`,
        [leadId, randomUUID()],
      );
      const append = store.append(leadId, 0, [received()]).catch((caught: unknown) => caught);
      // Commit only once the append is blocked on the rogue's uncommitted row, so the race is the one under test.
      await waitForBlockedBackend(db.adminUrl, rogue);
      await rogue.query('COMMIT');

      const error = await append;
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ expectedVersion: 0, actualVersion: 1 });
    });
    expect(await eventCount(db, leadId)).toBe(1);
  });

  it('refuses the application role any change to events or audit rows', async () => {
    const leadId = randomUUID();
    await store.append(leadId, 0, [received()]);

    const denied = { code: '42501' };
    await expect(db.pool.query("UPDATE lead_events SET type = 'X' WHERE lead_id = $1", [leadId])).rejects.toMatchObject(
      denied,
    );
    await expect(db.pool.query('DELETE FROM lead_events WHERE lead_id = $1', [leadId])).rejects.toMatchObject(denied);
    await expect(db.pool.query('TRUNCATE lead_events')).rejects.toMatchObject(denied);
    await expect(
      db.pool.query("UPDATE audit_log SET outcome = 'x' WHERE lead_id = $1", [leadId]),
    ).rejects.toMatchObject(denied);
    await expect(db.pool.query('DELETE FROM audit_log WHERE lead_id = $1', [leadId])).rejects.toMatchObject(denied);

    // Even the owner is stopped by the append-only trigger.
    await withAdmin(db.adminUrl, async (admin) => {
      await expect(admin.query('DELETE FROM lead_events WHERE lead_id = $1', [leadId])).rejects.toMatchObject(denied);
      await expect(admin.query('TRUNCATE lead_events')).rejects.toMatchObject(denied);
    });
    expect(await eventCount(db, leadId)).toBe(1);
  });

  it('records who appended what in the audit log, without event data, command ids as keyed digests', async () => {
    const leadId = randomUUID();
    const events = [received(), event('LeadValidated')];
    await store.append(leadId, 0, events);

    const result = await db.pool.query<{ actor: string; action: string; outcome: string; detail: unknown }>(
      'SELECT actor, action, outcome, detail FROM audit_log WHERE lead_id = $1',
      [leadId],
    );
    expect(result.rows).toEqual([
      {
        actor: 'test:intake',
        action: 'LeadReceived,LeadValidated',
        outcome: 'recorded',
        detail: {
          fromVersion: 0,
          toVersion: 2,
          eventIds: events.map((e) => e.eventId),
          // A submission's command id is the partner's reference: recognisable by its digest, not readable.
          commandIds: events.map((e) => keyring.digest(e.metadata.commandId)),
        },
      },
    ]);
    expect(JSON.stringify(result.rows)).not.toContain(PLANTED_VICTIM_NAME);
    for (const e of events) expect(JSON.stringify(result.rows)).not.toContain(e.metadata.commandId);
  });

  it('records reads of personal data beside the appends', async () => {
    const leadId = randomUUID();
    await store.append(leadId, 0, [received()]);
    await recordAudit(db.pool, {
      actor: 'supervisor:newark-1',
      leadId,
      action: 'ReadLead',
      outcome: 'allowed',
      detail: { fields: ['intake'] },
    });

    const result = await db.pool.query<{ actor: string; action: string }>(
      'SELECT actor, action FROM audit_log WHERE lead_id = $1 ORDER BY id',
      [leadId],
    );
    expect(result.rows).toEqual([
      { actor: 'test:intake', action: 'LeadReceived' },
      { actor: 'supervisor:newark-1', action: 'ReadLead' },
    ]);
  });

  it('rebuilds the read model to exactly what the live path wrote', async () => {
    const rebuildDb = await freshDatabase();
    bindKeyring(rebuildDb.pool, Keyring.single(randomBytes(32)));
    try {
      const liveStore = createEventStore(rebuildDb.pool, project);
      const leadIds = [randomUUID(), randomUUID(), randomUUID()];
      const [first, second, third] = leadIds as [string, string, string];
      await liveStore.append(first, 0, [received()]);
      await liveStore.append(second, 0, [received(), event('LeadValidated')]);
      await liveStore.append(second, 2, [event('LeadAssigned', { office: 'HSI-NEWYORK' })]);
      await liveStore.append(third, 0, [received()]);
      await liveStore.append(third, 1, [event('LeadValidated')]);
      await liveStore.append(third, 2, [event('LeadClosed')]);

      const live = await Promise.all(leadIds.map((id) => liveStore.readLead(id)));
      // Damage the read model the way a buggy projection or a manual edit might.
      await rebuildDb.pool.query("UPDATE leads SET status = 'garbage', version = 99 WHERE lead_id = $1", [second]);
      await rebuildDb.pool.query('DELETE FROM leads WHERE lead_id = $1', [third]);

      await expect(rebuildReadModel(rebuildDb.pool, project)).resolves.toEqual({ leads: 3, events: 7 });

      const rebuilt = await Promise.all(leadIds.map((id) => liveStore.readLead(id)));
      expect(rebuilt).toEqual(live);
      expect(rebuilt.map((lead) => lead?.version)).toEqual([1, 3, 3]);

      // Appends carry on from the rebuilt state.
      await liveStore.append(second, 3, [event('NoteAdded')]);
      expect(((await liveStore.readLead(second))?.state as CounterState).count).toBe(4);
    } finally {
      await rebuildDb.drop();
    }
  });
});
