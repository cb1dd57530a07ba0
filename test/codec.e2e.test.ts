/**
 * The codec server: Temporal's CLI, given the API's /codec endpoint and an operator's token, shows a lead's history
 * decrypted; without a token, or with a role that may not decode, it gets nothing; every decode is audited.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../client/http';
import { temporalCliPath } from '../worker/temporal-binaries';
import { leadWorkflowId } from '../workflows/messages';
import { startTestAccess, type TestAccess } from './support/access';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let api: FastifyInstance;
let base: string;
let leadId: string;
const marker = `CODEC-MARKER-${randomUUID().slice(0, 8)}`;
const UI_ORIGIN = 'http://127.0.0.1:8233';

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env);
  access = await startTestAccess();
  api = await buildApi({
    leads: access.guard(stack.client, stack.db.pool),
    authenticate: access.authenticate,
    payloadCodec: stack.payloadCodec,
    temporalUiOrigin: UI_ORIGIN,
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
  const intake = {
    ...sampleIntakeInputs()['newark-interview-request']!,
    externalReference: randomUUID(),
    summary: `A report that carries ${marker} in its text.`,
  };
  ({ leadId } = await stack.client.submitLead(intake, { actor: 'svc:test' }));
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
});

/** `temporal workflow show` on the lead, as an operator would run it. */
async function show(auth?: string, timeout = '30s') {
  const args = [
    '--command-timeout',
    timeout,
    'workflow',
    'show',
    '--workflow-id',
    leadWorkflowId(leadId),
    '--address',
    env.address,
    '--output',
    'json',
    '--codec-endpoint',
    `${base}/codec`,
    ...(auth === undefined ? [] : ['--codec-auth', auth]),
  ];
  try {
    const { stdout } = await promisify(execFile)(temporalCliPath(), args, { maxBuffer: 16 * 1024 * 1024 });
    return { ok: true, text: stdout };
  } catch (error) {
    return { ok: false, text: String((error as { stderr?: string }).stderr ?? error) };
  }
}

/** Every payload `data` field of a history, base64-decoded. */
function payloadTexts(historyJson: string): string {
  const found: string[] = [];
  JSON.parse(historyJson, (key, value: unknown) => {
    if (key === 'data' && typeof value === 'string') found.push(Buffer.from(value, 'base64').toString('utf8'));
    return value;
  });
  return found.join('\n');
}

describe('the codec server', () => {
  it('decodes a lead’s history for HQ HSTU through Temporal’s CLI, and audits it', async () => {
    const before = await stack.db.pool.query(
      "SELECT count(*)::int AS n FROM audit_log WHERE action = 'DecodePayloads'",
    );
    const decoded = await show(`Bearer ${await access.token('hq')}`);
    expect(decoded.ok, decoded.text).toBe(true);
    expect(payloadTexts(decoded.text)).toContain(marker);
    const { rows } = await stack.db.pool.query<{ actor: string; outcome: string }>(
      "SELECT actor, outcome FROM audit_log WHERE action = 'DecodePayloads' ORDER BY id",
    );
    expect(rows.length).toBeGreaterThan(before.rows[0].n);
    expect(rows.every((r) => r.actor === 'hq' && r.outcome === 'read')).toBe(true);
  });

  it('decodes nothing without a token, or for a role that may not', async () => {
    for (const auth of [undefined, `Bearer ${await access.token('hsi-newark.supervisor')}`]) {
      // A refused decode is retried by the CLI until its deadline: a short one.
      const shown = await show(auth, '3s');
      // The CLI fails on the codec's refusal, or shows the ciphertext: either way the marker is not there.
      expect(`${shown.text}\n${shown.ok ? payloadTexts(shown.text) : ''}`).not.toContain(marker);
    }
    const refused = await stack.db.pool.query(
      "SELECT 1 FROM audit_log WHERE action = 'DecodePayloads' AND outcome = 'refused' AND actor = 'hsi-newark.supervisor'",
    );
    expect(refused.rows.length).toBeGreaterThan(0);
  });

  it('answers the Temporal UI’s CORS preflight for its origin only', async () => {
    // As UI 2.54.1 asks it: its query parameter, and the signed-in user's ID token beside the access token.
    const requested = ['authorization', 'authorization-extras', 'content-type', 'x-namespace'];
    const preflight = (origin: string) =>
      fetch(`${base}/codec/decode?preserveStorageRefs=true`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': requested.join(','),
        },
      });
    const ui = await preflight(UI_ORIGIN);
    expect(ui.status).toBe(204);
    expect(ui.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const allowed = (ui.headers.get('access-control-allow-headers') ?? '').split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(requested));
    const other = await preflight('http://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
