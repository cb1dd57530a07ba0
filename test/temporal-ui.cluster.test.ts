/**
 * The Temporal UI of `npm run cluster` (worker/temporal-ui.ts, started as the cluster starts it) in a real Chromium:
 * HQ signs in through the development provider's form, opens a lead's workflow, and reads a marker that exists only
 * inside the lead's encrypted payloads, decoded by the API's codec server with HQ's token and audited; an agent signed
 * in to the same UI sees the ciphertext, and an agent's token is refused at the codec. Runs in `npm run test:cluster` only (on its Temporal Server; vitest.config.ts), since it
 * needs the UI server that `npm run cluster` builds with Go.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../activities/db';
import { buildApi } from '../client/http';
import {
  ensureTemporalUi,
  startSignedInTemporalUi,
  temporalUiUrl,
  type SignedInTemporalUi,
} from '../worker/temporal-ui';
import { leadWorkflowId } from '../workflows/messages';
import { startTestAccess, TEST_AUDIENCE, type TestAccess } from './support/access';
import { launchBrowser } from './support/browser';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { postOverTls } from './support/https';

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let api: FastifyInstance;
let cluster: SignedInTemporalUi;
let browser: Browser;
let leadId: string;
let namespace: string;
const dir = mkdtempSync(join(tmpdir(), 'leadline-temporal-ui-'));
const marker = `UI-MARKER-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  const [binary, uiPort] = await Promise.all([ensureTemporalUi(() => undefined), freePort()]);
  env = await startDevServer();
  namespace = env.namespace ?? 'default';
  stack = await startStack(env);
  access = await startTestAccess();
  api = await buildApi({
    leads: access.guard(stack.client, stack.db.pool),
    authenticate: access.authenticate,
    payloadCodec: stack.payloadCodec,
    temporalUiOrigin: temporalUiUrl(uiPort),
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
  });
  const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  const client = access.idp.identities.webClients.find((c) => c.clientId === 'temporal-ui');
  if (client === undefined) throw new Error('config/dev-identities.json registers no temporal-ui client');
  [cluster, browser] = await Promise.all([
    startSignedInTemporalUi({
      binary,
      temporalAddress: env.address,
      namespace,
      uiPort,
      codecPort: 0,
      apiUrl,
      issuer: access.idp.issuer,
      audience: TEST_AUDIENCE,
      client,
      dir,
    }),
    launchBrowser(),
  ]);
  const intake = {
    ...sampleIntakeInputs()['newark-interview-request']!,
    externalReference: randomUUID(),
    summary: `A report that carries ${marker} in its text.`,
  };
  ({ leadId } = await stack.client.submitLead(intake, { actor: 'svc:test' }));
});

afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

const decodes = async (actor: string, outcome: string) =>
  (
    await stack.db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_log WHERE action = 'DecodePayloads' AND actor = $1 AND outcome = $2",
      [actor, outcome],
    )
  ).rows[0]?.n ?? 0;

describe('the Temporal UI of npm run cluster', () => {
  it('holds the marker only encrypted in Temporal', async () => {
    const history = await env.connection.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId: leadWorkflowId(leadId) },
    });
    // What Temporal holds, as it stores it: the marker is in no byte of it.
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history.history ?? {}).finish()).toString('latin1');
    expect(raw).toContain('binary/encrypted');
    expect(raw).not.toContain(marker);
  });

  it('is configured as a lead needs: cancel and terminate hidden, codec over https with the user’s token', async () => {
    const settings = (await (await fetch(`${cluster.ui.url}/api/v1/settings`)).json()) as Record<string, unknown>;
    expect(settings).toMatchObject({
      WorkflowCancelDisabled: true,
      WorkflowTerminateDisabled: true,
      DisableWriteActions: true,
      Auth: { Enabled: true },
      Codec: { Endpoint: cluster.codec.endpoint, PassAccessToken: true },
    });
    expect(cluster.codec.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/codec$/);
  });

  it('signs HQ in through the provider and shows a lead’s input decoded, each decode audited', async () => {
    const before = await decodes('hq', 'read');
    // The codec's certificate is self-signed for loopback: a user accepts it once; this browser is told to.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await page.goto(`${cluster.ui.url}/namespaces/${namespace}/workflows/${leadWorkflowId(leadId)}`);
    // Not signed in: the UI sends the browser to the provider's own form, and back to the lead once HQ signed in.
    await page.getByLabel('User').fill('hq');
    await page.getByLabel('Password').fill(access.idp.identities.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.origin === cluster.ui.url && url.pathname.includes(leadWorkflowId(leadId)));

    // The workflow's input, decoded: its JSON, whose lines the editor renders only near where it is scrolled to.
    const input = page.locator('.readOnly .cm-scroller').first();
    await input.getByText('"intake"').or(input.getByText('"policy"')).first().waitFor({ timeout: 30_000 });
    for (let i = 0; i < 100 && (await input.getByText(marker).count()) === 0; i++) {
      await input.evaluate((element) => element.scrollBy(0, 150));
    }
    const line = input.getByText(marker).first();
    await line.scrollIntoViewIfNeeded();
    const [shown, frame] = [await line.boundingBox(), await input.boundingBox()];
    expect(shown, 'the marker is not on the page').not.toBeNull();
    expect(shown!.y).toBeGreaterThanOrEqual(frame!.y);
    expect(shown!.y + shown!.height).toBeLessThanOrEqual(frame!.y + frame!.height);
    expect(await decodes('hq', 'read')).toBeGreaterThan(before);

    // Read-only: no cancellation, and the menu of the other actions (terminate, reset, signal, update) is closed.
    expect(await page.getByRole('button', { name: 'Request Cancellation' }).isDisabled()).toBe(true);
    const more = page.getByRole('button', { name: 'More Actions' });
    expect((await more.count()) === 0 || (await more.isDisabled())).toBe(true);
    await context.close();
  });

  it('signs in no one but HQ HSTU and admins, and refuses every write (an Update sent from it would skip the API)', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await page.goto(`${cluster.ui.url}/namespaces/${namespace}/workflows/${leadWorkflowId(leadId)}`);
    await page.getByLabel('User').fill('hsi-newark.agent');
    await page.getByLabel('Password').fill(access.idp.identities.password);
    const answer = page.waitForResponse((r) => r.url().includes('/interaction/') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect((await answer).status()).toBe(403);
    await page.getByText('This application is for hq, admin only.').waitFor();
    expect(new URL(page.url()).origin).not.toBe(cluster.ui.url);
    await context.close();

    // The UI server lets nothing but reads and queries through to Temporal: a write with a valid CSRF token (as the
    // UI's own page sends it) is refused before it reaches Temporal, whoever sends it.
    const settings = await fetch(`${cluster.ui.url}/api/v1/settings`);
    const csrf = /_csrf=([^;]+)/.exec(settings.headers.get('set-cookie') ?? '')?.[1];
    expect(csrf).toBeDefined();
    const signal = await fetch(
      `${cluster.ui.url}/api/v1/namespaces/${namespace}/workflows/${leadWorkflowId(leadId)}/signal/anything`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: `_csrf=${csrf}`, 'x-csrf-token': csrf! },
        body: '{}',
      },
    );
    expect(signal.status).toBe(405);
  });

  it('gets nothing decoded for a role that may not, through the same endpoint', async () => {
    const before = await decodes('hsi-newark.agent', 'refused');
    const history = await env.connection.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId: leadWorkflowId(leadId) },
    });
    const input = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(input?.data).toBeDefined();
    const body = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(input?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(input?.data ?? []).toString('base64'),
        },
      ],
    };
    const decode = (token: string) =>
      postOverTls(`${cluster.codec.endpoint}/decode`, readFileSync(cluster.codec.certFile), JSON.stringify(body), {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'x-namespace': namespace,
        origin: cluster.ui.url,
      });
    const refused = await decode(await access.token('hsi-newark.agent'));
    expect(refused.status).toBe(403);
    expect(refused.body).not.toContain(marker);
    expect(await decodes('hsi-newark.agent', 'refused')).toBeGreaterThan(before);
    // The same request with HQ's token is decoded: the refusal is the role's, not the request's.
    const decoded = await decode(await access.token('hq'));
    expect(decoded.status).toBe(200);
    expect(decoded.headers['access-control-allow-origin']).toBe(cluster.ui.url);
    const payload = (JSON.parse(decoded.body) as { payloads: { data: string }[] }).payloads[0];
    expect(Buffer.from(payload?.data ?? '', 'base64').toString('utf8')).toContain(marker);
  });
});
