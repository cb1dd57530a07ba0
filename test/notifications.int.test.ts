import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDirectory, officeForJurisdiction, recipientsFor } from '../activities/directory';
import type { Directory } from '../activities/directory';
import { composeNotification, composeNotifications } from '../activities/notifications/compose';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import type { NotificationDelivery } from '../activities/notifications/deliver';
import { createEmailAdapter } from '../activities/notifications/email';
import type { EmailAdapter } from '../activities/notifications/email';
import { createLogAdapter } from '../activities/notifications/log';
import { NonRetryableDeliveryError } from '../activities/notifications/types';
import type { Notification } from '../activities/notifications/types';
import {
  createWebhookAdapter,
  signWebhookPayload,
  verifyWebhookSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from '../activities/notifications/webhook';
import { freshDatabase } from './support/postgres';
import type { FreshDatabase } from './support/postgres';

const SECRET = 'test-webhook-secret';

// A test intake carrying the kinds of personal data that must never leave in a notification.
const PLANTED = { victimName: 'Planted Victimname', phone: '+1-202-555-0147', dateOfBirth: '2009-02-14' };

function testIntake() {
  return {
    leadId: randomUUID(),
    jurisdiction: 'US-NJ',
    source: 'ngo',
    victim: { name: PLANTED.victimName, phone: PLANTED.phone, dateOfBirth: PLANTED.dateOfBirth },
    narrative: `${PLANTED.victimName} was seen at the bus station`,
  };
}

interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  validSignature: boolean;
  answeredWith: number;
}

interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** A real HTTP receiver that answers with `statuses` in turn (the last one repeats) and checks signatures. */
async function startReceiver(statuses: number[], delayMs = 0): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const timestamp = request.headers[TIMESTAMP_HEADER.toLowerCase()];
      const signature = request.headers[SIGNATURE_HEADER.toLowerCase()];
      const validSignature =
        typeof timestamp === 'string' &&
        typeof signature === 'string' &&
        verifyWebhookSignature(SECRET, timestamp, body, signature);
      const status = validSignature ? (statuses[requests.length] ?? statuses.at(-1) ?? 200) : 401;
      requests.push({ headers: request.headers, body, validSignature, answeredWith: status });
      setTimeout(() => response.writeHead(status, { 'Content-Type': 'text/plain' }).end('ok'), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/leadline`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function webhookNotification(url: string): Notification {
  const intake = testIntake();
  return composeNotification(
    { causationId: randomUUID(), leadId: intake.leadId, kind: 'escalation', office: 'HSI-NEWARK', level: 1 },
    { role: 'supervisor', name: 'Newark group supervisor', webhookUrl: url },
    'webhook',
  );
}

async function notificationRow(db: FreshDatabase, key: string) {
  const result = await db.pool.query<{ status: string; attempts: number; last_error: string | null; payload: unknown }>(
    'SELECT status, attempts, last_error, payload FROM notifications WHERE idempotency_key = $1',
    [key],
  );
  return result.rows;
}

/** Calls `deliver` the way Temporal's retry policy would: again after each transient failure. */
async function deliverWithRetries(delivery: NotificationDelivery, notification: Notification, maxAttempts: number) {
  const failures: unknown[] = [];
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    try {
      return { result: await delivery.deliver(notification), failures };
    } catch (error) {
      failures.push(error);
      if (error instanceof NonRetryableDeliveryError) break;
    }
  }
  return { result: undefined, failures };
}

describe('notification delivery', () => {
  let db: FreshDatabase;
  let delivery: NotificationDelivery;
  let email: EmailAdapter;
  let smtp: SMTPServer;
  const logLines: string[] = [];
  const mails: { rcptTo: string[]; raw: string }[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('bounce')) {
          callback(Object.assign(new Error('no such mailbox'), { responseCode: 550 }));
        } else {
          callback();
        }
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          mails.push({
            rcptTo: session.envelope.rcptTo.map((recipient) => recipient.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const { port } = smtp.server.address() as AddressInfo;
    email = createEmailAdapter({ host: '127.0.0.1', port, secure: false, from: 'Leadline <leadline@hsi.example.gov>' });
    delivery = createNotificationDelivery({
      pool: db.pool,
      adapters: [
        createWebhookAdapter({ secret: SECRET, timeoutMs: 500 }),
        email,
        createLogAdapter({ write: (line) => logLines.push(line) }),
      ],
    });
  });

  afterAll(async () => {
    email.close();
    await new Promise<void>((resolve) => smtp.close(resolve));
    await db.drop();
  });

  it('delivers a webhook once after two server errors, signed, with attempts counted', async () => {
    const receiver = await startReceiver([500, 500, 200]);
    try {
      const notification = webhookNotification(receiver.url);

      const { result, failures } = await deliverWithRetries(delivery, notification, 5);
      expect(result).toEqual({ attempts: 3, alreadyDelivered: false });
      expect(failures).toHaveLength(2);
      for (const failure of failures) expect(failure).not.toBeInstanceOf(NonRetryableDeliveryError);

      // A replay after success (say, the activity's completion was lost) sends nothing.
      await expect(delivery.deliver(notification)).resolves.toEqual({ attempts: 3, alreadyDelivered: true });

      expect(receiver.requests).toHaveLength(3);
      expect(receiver.requests.every((request) => request.validSignature)).toBe(true);
      const accepted = receiver.requests.filter((request) => request.answeredWith === 200);
      expect(accepted).toHaveLength(1);
      expect(new Set(receiver.requests.map((request) => request.headers['idempotency-key']))).toEqual(
        new Set([notification.idempotencyKey]),
      );
      expect(JSON.parse(accepted[0]?.body ?? '{}')).toMatchObject({
        leadId: notification.leadId,
        kind: 'escalation',
        level: 1,
        office: 'HSI-NEWARK',
        recipientRole: 'supervisor',
      });

      const rows = await notificationRow(db, notification.idempotencyKey);
      expect(rows).toEqual([expect.objectContaining({ status: 'delivered', attempts: 3, last_error: null })]);
    } finally {
      await receiver.close();
    }
  });

  it('marks a notification refused with 400 as failed and does not send it again', async () => {
    const receiver = await startReceiver([400]);
    try {
      const notification = webhookNotification(receiver.url);

      await expect(delivery.deliver(notification)).rejects.toBeInstanceOf(NonRetryableDeliveryError);
      await expect(delivery.deliver(notification)).rejects.toBeInstanceOf(NonRetryableDeliveryError);

      expect(receiver.requests).toHaveLength(1);
      const rows = await notificationRow(db, notification.idempotencyKey);
      expect(rows).toEqual([expect.objectContaining({ status: 'failed', attempts: 1 })]);
      expect(rows[0]?.last_error).toContain('HTTP 400');
    } finally {
      await receiver.close();
    }
  });

  it('leaves a timed-out webhook pending for a retry', async () => {
    const receiver = await startReceiver([200], 2_000);
    try {
      const notification = webhookNotification(receiver.url);

      const error = await delivery.deliver(notification).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(NonRetryableDeliveryError);
      expect((error as Error).message).toContain('did not answer within 500 ms');

      const rows = await notificationRow(db, notification.idempotencyKey);
      expect(rows).toEqual([expect.objectContaining({ status: 'pending', attempts: 1 })]);
    } finally {
      await receiver.close();
    }
  });

  it('checks webhook signatures against the secret, the body and the clock', () => {
    const body = '{"leadId":"x"}';
    const now = new Date('2025-06-01T12:00:00Z');
    const timestamp = String(now.getTime() / 1000);
    const signature = signWebhookPayload(SECRET, timestamp, body);

    expect(verifyWebhookSignature(SECRET, timestamp, body, signature, { now })).toBe(true);
    expect(verifyWebhookSignature('other-secret', timestamp, body, signature, { now })).toBe(false);
    expect(verifyWebhookSignature(SECRET, timestamp, '{"leadId":"y"}', signature, { now })).toBe(false);
    expect(verifyWebhookSignature(SECRET, timestamp, body, signature.slice(0, -1), { now })).toBe(false);
    expect(verifyWebhookSignature(SECRET, timestamp, body, undefined, { now })).toBe(false);
    const muchLater = new Date(now.getTime() + 10 * 60_000);
    expect(verifyWebhookSignature(SECRET, timestamp, body, signature, { now: muchLater })).toBe(false);
  });

  it('emails the office duty agent with the lead id and no personal data', async () => {
    const directory = await loadDirectory();
    const intake = testIntake();
    const office = officeForJurisdiction(directory, intake.jurisdiction);
    expect(office?.id).toBe('HSI-NEWARK');
    const officeId = office?.id ?? 'missing';

    // Even handed the whole intake, the builder copies only identifiers, status and clocks.
    const notifications = composeNotifications(
      {
        ...intake,
        causationId: randomUUID(),
        kind: 'sla_warning',
        office: officeId,
        stage: 'assigned',
        deadline: '2025-06-02T12:00:00.000Z',
      },
      recipientsFor(directory, officeId, ['assignee']),
      { linkBase: 'https://leadline.example.gov/' },
    );
    expect(notifications.map((n) => n.channel)).toEqual(['email']);
    const [notification] = notifications;
    if (notification === undefined) throw new Error('no notification composed');

    const before = mails.length;
    await expect(delivery.deliver(notification)).resolves.toEqual({ attempts: 1, alreadyDelivered: false });
    await expect(delivery.deliver(notification)).resolves.toMatchObject({ alreadyDelivered: true });

    expect(mails).toHaveLength(before + 1);
    const mail = mails.at(-1);
    expect(mail?.rcptTo).toEqual(['duty.newark@hsi.example.gov']);
    const readable = decodeForSearch(mail?.raw ?? '');
    expect(readable).toMatch(new RegExp(`^Subject: .*lead ${intake.leadId}`, 'm'));
    expect(readable).toContain(`Lead: ${intake.leadId}`);
    expect(readable).toContain(`https://leadline.example.gov/leads/${intake.leadId}`);

    const stored = await notificationRow(db, notification.idempotencyKey);
    for (const text of [mail?.raw ?? '', readable, JSON.stringify(notification), JSON.stringify(stored)]) {
      for (const planted of Object.values(PLANTED)) expect(text).not.toContain(planted);
    }
  });

  it('fails permanently when the SMTP server rejects the recipient', async () => {
    const intake = testIntake();
    const notification = composeNotification(
      { causationId: randomUUID(), leadId: intake.leadId, kind: 'assignment', office: 'HSI-NEWARK' },
      { role: 'assignee', email: 'bounce@hsi.example.gov' },
      'email',
    );

    const error = await delivery.deliver(notification).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NonRetryableDeliveryError);
    expect((error as Error).message).toBe('SMTP server refused the message (550)');
    expect(await notificationRow(db, notification.idempotencyKey)).toEqual([
      expect.objectContaining({ status: 'failed', attempts: 1 }),
    ]);
  });

  it('logs a notification for a recipient with no address', async () => {
    const intake = testIntake();
    const [notification] = composeNotifications(
      { causationId: randomUUID(), leadId: intake.leadId, kind: 'escalation', office: 'HSI-NEWARK', level: 2 },
      [{ role: 'sac' }],
    );
    if (notification === undefined) throw new Error('no notification composed');
    expect(notification.channel).toBe('log');

    await delivery.deliver(notification);
    const line = logLines.at(-1) ?? '{}';
    expect(JSON.parse(line)).toMatchObject({
      msg: 'notification',
      leadId: intake.leadId,
      escalationLevel: 2,
      recipientRole: 'sac',
    });
  });
});

describe('office directory', () => {
  let dir: string;
  let directory: Directory;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leadline-directory-'));
    directory = await loadDirectory();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('routes every supported jurisdiction to one office and lists contacts by role', () => {
    for (const code of ['US-NJ', 'US-NY', 'US-CA', 'US-TX', 'US-FL']) {
      expect(officeForJurisdiction(directory, code), code).toBeDefined();
    }
    expect(officeForJurisdiction(directory, 'us-fl')?.id).toBe('HSI-GULFCOAST');
    expect(officeForJurisdiction(directory, 'US-AK')).toBeUndefined();

    const recipients = recipientsFor(directory, 'HSI-NEWARK', ['supervisor', 'sac', 'hq']);
    expect(recipients.map((recipient) => recipient.role)).toEqual(['supervisor', 'sac', 'hq']);
    expect(recipients[0]).toMatchObject({ email: 'supervisor.newark@hsi.example.gov' });
    expect(recipients[2]).toMatchObject({ email: 'hstu.duty@hq.example.gov' });
    expect(() => recipientsFor(directory, 'HSI-NOWHERE', ['assignee'])).toThrow('HSI-NOWHERE is not in the directory');
  });

  it('names the offending field of a bad file', async () => {
    const path = join(dir, 'bad-offices.json');
    const [first] = directory.offices;
    const broken = {
      hq: directory.hq,
      offices: [
        {
          ...first,
          contacts: {
            ...first?.contacts,
            supervisor: { name: 'No address' },
            sac: { name: 'X', email: 'not-an-email' },
          },
        },
      ],
    };
    await writeFile(path, JSON.stringify(broken));

    const error = await loadDirectory(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain(path);
    expect(message).toContain('offices[0].contacts.supervisor');
    expect(message).toContain('a contact needs an email or a webhookUrl');
    expect(message).toContain('offices[0].contacts.sac.email');
  });

  it('refuses two offices serving the same jurisdiction', async () => {
    const path = join(dir, 'overlap.json');
    const [first, second] = directory.offices;
    await writeFile(
      path,
      JSON.stringify({ hq: directory.hq, offices: [first, { ...second, jurisdictions: ['US-NY', 'US-NJ'] }] }),
    );

    await expect(loadDirectory(path)).rejects.toThrow(/jurisdiction US-NJ is already served by HSI-NEWARK/);
  });

  it('refuses a file that is not JSON', async () => {
    const path = join(dir, 'not-json.json');
    await writeFile(path, '{ "offices": [');
    await expect(loadDirectory(path)).rejects.toThrow(`office directory ${path} could not be read as JSON`);
  });
});

/** Unfolds headers and undoes quoted-printable soft breaks, so assertions see the text as a reader would. */
function decodeForSearch(raw: string): string {
  return raw
    .replace(/\r\n[ \t]+/g, ' ')
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
