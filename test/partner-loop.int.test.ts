/**
 * The partner loop end to end: a partner's real webhook receiver on loopback gets the acknowledgement and each
 * milestone exactly once, though the worker that was telling it is killed (SIGKILL, a real worker process) with a
 * milestone committed and not yet sent, and another takes over; and on the time-skipping server a late
 * acknowledgement tells the office supervisor, then HQ, once each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogAdapter } from '../activities/notifications/log';
import { createWebhookAdapter, verifyWebhookSignature } from '../activities/notifications/webhook';
import type { LeadIntakeInput } from '../schemas/intake';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer, startTimeSkippingServer } from './support/temporal';
import { waitFor } from './support/wait';

const SECRET = 'partner-loop-test-secret';
const agent = { actor: 'agent:rivera' };

describe('a partner told exactly once across a worker restart (dev server, a real worker process killed)', () => {
  let env: TestWorkflowEnvironment;
  let stack: TestStack;
  let receiver: Server;
  let child: ChildProcess | undefined;
  const received: { key: string; body: Record<string, unknown>; signed: boolean }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const timestamp = String(req.headers['x-leadline-timestamp'] ?? '');
        const signature = req.headers['x-leadline-signature'];
        received.push({
          key: String(req.headers['idempotency-key']),
          body: JSON.parse(text) as Record<string, unknown>,
          signed: verifyWebhookSignature(
            SECRET,
            timestamp,
            text,
            typeof signature === 'string' ? signature : undefined,
          ),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    env = await startDevServer();
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await stack?.stop();
    await env?.teardown();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('gets the acknowledgement and every milestone once, signed, with its reference and nothing else', async () => {
    const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/leadline`;
    const partners = { partners: [{ id: 'NGO-SAFE-HARBOR', name: 'Safe Harbor', webhookUrl, milestones: true }] };
    const payloadKey = randomBytes(32);
    stack = await startStack(env, {
      payloadKey,
      deferWorker: true,
      partners: { partners: partners.partners.map((p) => ({ ...p })) },
      adapters: [createLogAdapter({ write: () => undefined }), createWebhookAdapter({ secret: SECRET })],
    });
    child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./support/doomed-worker.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          DATABASE_URL: stack.db.appUrl,
          TEMPORAL_ADDRESS: env.address,
          LEADLINE_TASK_QUEUE: stack.taskQueue,
          LEADLINE_PAYLOAD_KEY: payloadKey.toString('base64'),
          LEADLINE_HANG_AFTER: 'InterviewCompleted',
          LEADLINE_PARTNERS_JSON: JSON.stringify(partners),
          WEBHOOK_SECRET: SECRET,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = createInterface({ input: child.stdout! });
    const said: string[] = [];
    lines.on('line', (line) => said.push(line));
    await waitFor(() => Promise.resolve(said.includes('polling')), 'the first worker polls', 60_000);

    const reference = `SH-${randomUUID()}`;
    const newark = sampleIntakeInputs()['newark-interview-request']!;
    const intake: LeadIntakeInput = {
      ...newark,
      source: 'ngo',
      externalReference: reference,
      partner: { organisation: 'Safe Harbor', name: 'Intake desk', id: 'NGO-SAFE-HARBOR' },
    };
    const { leadId } = await stack.client.submitLead(intake, { actor: 'svc:test' });
    const statuses = () => received.map((r) => r.body.status);
    await waitFor(() => Promise.resolve(statuses().includes('acknowledged')), 'acknowledged', 60_000);
    await stack.client.command(
      leadId,
      'RequestInterview',
      {
        scheduledFor: '2026-12-02T15:00:00.000Z',
        place: 'shelter room 4',
        interpreterLanguage: 'vi',
        victimSpecialist: true,
      },
      agent,
    );
    await waitFor(() => Promise.resolve(statuses().includes('interview_scheduled')), 'scheduled', 60_000);

    // The first worker commits InterviewCompleted and never finishes the task that would tell the partner: killed.
    const completing = stack.client.command(leadId, 'CompleteInterview', { outcome: 'victim_identified' }, agent);
    await waitFor(() => Promise.resolve(said.some((l) => l.startsWith('committed'))), 'committed', 60_000);
    child.kill('SIGKILL');
    await once(child, 'exit');
    stack.startWorker();
    await completing;
    await stack.client.command(leadId, 'OpenCase', { caseNumber: 'HSI-NWK-2026-0777' }, agent);
    await waitFor(() => Promise.resolve(statuses().includes('case_opened')), 'case opened', 60_000);
    // Time for anything sent twice to arrive.
    await new Promise((r) => setTimeout(r, 3_000));

    expect(statuses()).toEqual(['acknowledged', 'interview_scheduled', 'interview_held', 'case_opened']);
    expect(new Set(received.map((r) => r.key)).size).toBe(4);
    expect(received.every((r) => r.signed)).toBe(true);
    for (const { body } of received) {
      expect(Object.keys(body).sort()).toEqual(
        ['idempotencyKey', 'kind', 'reference', 'status', 'at', 'category', 'subject', 'text'].sort(),
      );
      expect(body.reference).toBe(reference);
    }
    const all = JSON.stringify(received);
    expect(all).not.toMatch(/HSI-NWK|HSI-NEWARK|rivera|shelter|victim_identified|Intake desk/);
    expect(all).not.toContain(leadId);
    const { rows } = await stack.db.pool.query<{ kind: string; status: string; payload: unknown }>(
      `SELECT kind, status, payload FROM notifications WHERE lead_id = $1 AND recipient = 'partner' ORDER BY id`,
      [leadId],
    );
    expect(rows.map((r) => [r.kind, r.status])).toEqual([
      ['partner_acknowledgement', 'delivered'],
      ['partner_milestone', 'delivered'],
      ['partner_milestone', 'delivered'],
      ['partner_milestone', 'delivered'],
    ]);
    // The stored rows never hold the partner's reference.
    expect(JSON.stringify(rows)).not.toContain(reference);
  });
});

describe('a late acknowledgement climbs to the supervisor, then HQ (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let stack: TestStack;

  beforeAll(async () => {
    env = await startTimeSkippingServer();
    stack = await startStack(env);
  });
  afterAll(async () => {
    await stack?.stop();
    await env?.teardown();
  });

  it('records each rung once and tells the office supervisor at 24 h and HQ at 48 h', async () => {
    // No office serves Montana: the lead waits for a person to place it, and placing it by hand does not answer the
    // partner, so nobody has acknowledged it.
    const intake: LeadIntakeInput = {
      ...sampleIntakeInputs()['public-unknown-jurisdiction']!,
      source: 'ngo',
      externalReference: `MT-${randomUUID()}`,
      partner: { organisation: 'Example outreach NGO', name: 'Caseworker', email: 'referrals@ngo.example.org' },
    };
    const { leadId } = await stack.client.submitLead(intake, { actor: 'svc:test' });
    await waitFor(async () => (await stack.client.getLead(leadId)).state.status === 'validated', 'validated');
    const placed = await stack.client.command(leadId, 'AssignLead', { office: 'HSI-NEWARK' }, { actor: 'hq:duty' });
    expect(placed.state.partner?.acknowledgedAt).toBeNull();
    expect(placed.allowedCommands).toContain('AcknowledgePartner');

    const rungs = async () => {
      const { rows } = await stack.db.pool.query<{ level: number }>(
        `SELECT (data->>'level')::int AS level FROM lead_events
          WHERE lead_id = $1 AND type = 'PartnerAcknowledgementOverdue' ORDER BY seq`,
        [leadId],
      );
      return rows.map((r) => r.level);
    };
    const told = () =>
      stack.notices
        .map(
          (line) =>
            // The log channel writes pino lines: pino's own `level` is the line's, the rung is `escalationLevel`.
            JSON.parse(line) as { leadId: string; kind: string; recipientRole: string; escalationLevel?: number },
        )
        .filter((n) => n.leadId === leadId && n.kind === 'partner_acknowledgement_overdue')
        .map((n) => [n.recipientRole, n.escalationLevel]);

    await env.sleep('23 hours');
    expect(await rungs()).toEqual([]);
    await env.sleep('2 hours');
    expect(await rungs()).toEqual([1]);
    await waitFor(() => Promise.resolve(told().length === 1), 'supervisor told');
    expect(told()).toEqual([['supervisor', 1]]);
    await env.sleep('24 hours');
    expect(await rungs()).toEqual([1, 2]);
    await waitFor(() => Promise.resolve(told().length === 2), 'HQ told');
    expect(told()).toEqual([
      ['supervisor', 1],
      ['hq', 2],
    ]);
    // Acknowledged late, the partner hears of it once, and the ladder stays where it was.
    await stack.client.command(leadId, 'AcknowledgePartner', {}, { actor: 'hsi-newark.supervisor' });
    await env.sleep('3 days');
    expect(await rungs()).toEqual([1, 2]);
    const { rows } = await stack.db.pool.query<{ kind: string; recipient: string; n: number }>(
      `SELECT kind, recipient, count(*)::int AS n FROM notifications WHERE lead_id = $1 AND kind LIKE 'partner_%'
        GROUP BY kind, recipient ORDER BY kind, recipient`,
      [leadId],
    );
    expect(rows).toEqual([
      { kind: 'partner_acknowledgement', recipient: 'partner', n: 1 },
      { kind: 'partner_acknowledgement_overdue', recipient: 'hq', n: 1 },
      { kind: 'partner_acknowledgement_overdue', recipient: 'supervisor', n: 1 },
    ]);
  });
});
