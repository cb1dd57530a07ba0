/**
 * The console in a real Chromium against the real stack: the Temporal dev server, a worker, PostgreSQL, the HTTP
 * API serving the console, and the development OpenID provider, whose sign-in form the browser fills in. A
 * supervisor sees the queue overdue first, opens a lead, assigns it and requests an interview, and sees the timeline
 * change; an agent of another office sees nothing of it; HQ sees the overview with the numbers of the seeded leads.
 * axe-core finds no serious or critical violation on any page. Screenshots land in a temporary folder, or in
 * docs/screenshots with UPDATE_SCREENSHOTS=1 (the README's). Render and update times are printed, not asserted.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessStore } from '../activities/access-store';
import { loadDirectory } from '../activities/directory';
import { createReportStore } from '../activities/reports';
import { GuardedReports } from '../client/guarded-reports';
import { buildApi } from '../client/http';
import { DEFAULT_CONSOLE_CLIENT_ID } from '../client/http/console';
import type { LeadIntakeInput } from '../schemas/intake';
import { defaultSlaPolicy } from '../schemas/sla-policy';
import { startTestAccess, TEST_AUDIENCE, type TestAccess } from './support/access';
import { launchBrowser, seriousViolations, signInThroughConsole } from './support/browser';
import { sampleIntakeInputs } from './support/lead-fixtures';
import { startStack, type TestStack } from './support/stack';
import { startDevServer } from './support/temporal';
import { waitFor } from './support/wait';

/** 48 h to request an interview become 20 s: a lead submitted first is overdue before the browser looks. */
const TIME_SCALE = (48 * 3_600) / 20;

let env: TestWorkflowEnvironment;
let stack: TestStack;
let access: TestAccess;
let api: FastifyInstance;
let browser: Browser;
let base: string;
let password: string;
let overdueLead: string;
let freshLead: string;
let houstonLead: string;

const shots = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : mkdtempSync(join(tmpdir(), 'console-'));
mkdirSync(shots, { recursive: true });

async function submit(name: string): Promise<string> {
  const intake: LeadIntakeInput = { ...sampleIntakeInputs()[name]!, externalReference: `${name}-${randomUUID()}` };
  const response = await fetch(`${base}/leads`, {
    method: 'POST',
    headers: { ...(await access.as('hq')), 'content-type': 'application/json' },
    body: JSON.stringify(intake),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { leadId: string }).leadId;
}

const readModel = async (leadId: string) =>
  (
    await stack.db.pool.query<{ status: string; office: string | null; overdue: boolean }>(
      `SELECT status, office, coalesce(stage_deadline < now() AND NOT sla_paused, false) AS overdue
         FROM leads WHERE lead_id = $1`,
      [leadId],
    )
  ).rows[0];

async function signedIn(login: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signInThroughConsole(page, base, login, password);
  return page;
}

async function expectAccessible(page: Page, what: string) {
  const violations = await seriousViolations(page);
  expect(violations, `${what}: ${JSON.stringify(violations)}`).toEqual([]);
}

beforeAll(async () => {
  env = await startDevServer();
  stack = await startStack(env, { policy: defaultSlaPolicy({ timeScale: TIME_SCALE }) });
  access = await startTestAccess();
  password = access.idp.identities.password;
  api = await buildApi({
    leads: access.guard(stack.client, stack.db.pool),
    reports: new GuardedReports(
      createReportStore(stack.db.pool),
      createAccessStore(stack.db.pool),
      (await loadDirectory()).offices,
    ),
    authenticate: access.authenticate,
    checks: { temporal: () => Promise.resolve(), postgres: () => Promise.resolve() },
    logger: false,
    console: { issuer: access.idp.issuer, clientId: DEFAULT_CONSOLE_CLIENT_ID, audience: TEST_AUDIENCE },
  });
  base = await api.listen({ host: '127.0.0.1', port: 0 });
  [browser, overdueLead, houstonLead] = await Promise.all([
    launchBrowser(),
    submit('newark-interview-request'),
    submit('hhs-tipline-minor'),
  ]);
  await waitFor(async () => (await readModel(overdueLead))?.overdue === true, 'the first lead overdue', 60_000);
  freshLead = await submit('newark-interview-request');
  await waitFor(async () => (await readModel(freshLead))?.status === 'assigned', 'the second lead routed', 30_000);
  await waitFor(async () => (await readModel(houstonLead))?.office === 'HSI-GULFCOAST', 'the third lead routed');
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await stack?.stop();
  await access?.stop();
  await env?.teardown();
});

describe('the console', () => {
  it('is served with a page policy that runs only its own script and talks only to the API and the provider', async () => {
    const page = await fetch(`${base}/console/`);
    expect(page.status).toBe(200);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain(`connect-src 'self' ${access.idp.issuer}`);
    expect(await page.text()).toContain('/console/console.js');
    const settings = (await (await fetch(`${base}/console/config.json`)).json()) as Record<string, string>;
    expect(settings).toEqual({
      issuer: access.idp.issuer,
      clientId: DEFAULT_CONSOLE_CLIENT_ID,
      audience: TEST_AUDIENCE,
    });
    // The API behind it still wants a token.
    expect((await fetch(`${base}/leads`)).status).toBe(401);
  });

  it('lets a supervisor work the queue overdue first: open a lead, assign it, request the interview', async () => {
    const page = await signedIn('hsi-newark.supervisor');
    const rows = page.locator('table.queue tbody tr');
    await page.locator(`tr[data-lead="${freshLead}"]`).waitFor();
    expect(await rows.first().getAttribute('data-lead')).toBe(overdueLead);
    expect(await rows.first().getAttribute('class')).toContain('overdue');
    expect((await page.locator(`tr[data-lead="${freshLead}"]`).getAttribute('class')) ?? '').not.toContain('overdue');
    // Overdue rows come first, all of them.
    const classes = await rows.evaluateAll((trs) => trs.map((tr) => tr.className.includes('overdue')));
    expect(classes).toEqual([...classes].sort((a, b) => Number(b) - Number(a)));
    expect(await page.locator(`tr[data-lead="${houstonLead}"]`).count()).toBe(0);
    await expectAccessible(page, 'queue');
    await page.screenshot({ path: join(shots, 'queue.png'), fullPage: false });

    await page.locator(`tr[data-lead="${freshLead}"] a`).click();
    await expect.poll(() => page.getByTestId('lead-status').textContent()).toBe('Assigned');
    await expectAccessible(page, 'lead');

    // Assign it to the office's agent.
    await page.getByRole('button', { name: 'Reassign' }).click();
    await page.getByLabel('Agent (optional)').fill('hsi-newark.agent');
    await page.getByLabel('Office').selectOption('HSI-NEWARK');
    await page.getByLabel('Reason').fill('the duty agent takes it');
    await page.getByRole('button', { name: 'Reassign' }).last().click();
    await page.getByText('Reassign: recorded.').waitFor();
    await page.getByTestId('timeline').getByText('Moved to').waitFor();

    // A form the schema refuses is not sent: the fields are named where they are.
    const before = await eventCount(freshLead);
    await page.getByRole('button', { name: 'Request the interview' }).click();
    await page.getByRole('button', { name: 'Request the interview' }).last().click();
    await page.getByRole('alert').getByText('Check the fields marked below.').waitFor();
    expect(await page.locator('[aria-invalid="true"]').count()).toBeGreaterThanOrEqual(2);
    await expectAccessible(page, 'a refused form');
    expect(await eventCount(freshLead)).toBe(before);

    await page.getByLabel('Scheduled for').fill('2026-12-10T10:00');
    await page.getByLabel('Place').fill('HSI Newark, interview room 2');
    await page.getByLabel('Victim specialist').check();
    // The intake says a victim needs an interpreter: the safety rules refuse the request, and the form says why.
    await page.getByRole('button', { name: 'Request the interview' }).last().click();
    await page
      .getByRole('alert')
      .getByText(/interpreter/i)
      .waitFor();
    expect(await eventCount(freshLead)).toBe(before);
    await page.getByLabel('Interpreter language (optional)').fill('vi');
    await page.getByRole('button', { name: 'Request the interview' }).last().click();
    await page.getByTestId('timeline').getByText('Interview requested').waitFor();
    await expect.poll(() => page.getByTestId('lead-status').textContent()).toBe('Interview requested');

    // The intake opens only with a purpose, which the audit log keeps beside the read.
    await page.getByRole('button', { name: 'Read the intake' }).click();
    await page.getByRole('alert').getByText('Say why you read the intake').waitFor();
    expect(await page.getByText('Invented Person A').count()).toBe(0);
    await page.getByLabel('Purpose').fill('preparing the interview');
    await page.getByRole('button', { name: 'Read the intake' }).click();
    await page.getByText('Invented Person A').first().waitFor();
    await expectAccessible(page, 'the intake');
    const { rows: reads } = await stack.db.pool.query<{ actor: string }>(
      `SELECT actor FROM audit_log WHERE lead_id = $1 AND action = 'ReadIntake' AND outcome = 'read'`,
      [freshLead],
    );
    expect(reads).toEqual([{ actor: 'hsi-newark.supervisor' }]);
    await page.getByRole('button', { name: 'Close the intake' }).click();
    expect(await page.getByText('Invented Person A').count()).toBe(0);

    const { rows: events } = await stack.db.pool.query<{ type: string; actor: string }>(
      `SELECT type, metadata->>'actor' AS actor FROM lead_events WHERE lead_id = $1 ORDER BY seq`,
      [freshLead],
    );
    expect(events.slice(-2)).toEqual([
      { type: 'LeadReassigned', actor: 'hsi-newark.supervisor' },
      { type: 'InterviewRequested', actor: 'hsi-newark.supervisor' },
    ]);
    await page.context().close();
  });

  it('shows an agent of another office nothing of Newark, on a tablet too', async () => {
    const page = await signedIn('hsi-newyork.agent');
    await page.getByText(/leads? on this page/).waitFor();
    // A tablet held upright: the page fits its width (a wide table scrolls inside its own frame) and stays accessible.
    await page.setViewportSize({ width: 768, height: 1024 });
    const overflow = await page.evaluate(() => {
      const root = (
        globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
      ).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await expectAccessible(page, 'the queue on a tablet');
    expect(await page.locator(`tr[data-lead="${overdueLead}"]`).count()).toBe(0);
    expect(await page.locator(`tr[data-lead="${freshLead}"]`).count()).toBe(0);
    await page.goto(`${base}/console/#/leads/${overdueLead}`);
    await page.getByRole('alert').getByText('This lead cannot be shown').waitFor();
    await expectAccessible(page, 'a lead out of scope');
    await page.context().close();
  });

  it('shows HQ the overview with the numbers of the seeded leads', async () => {
    const page = await signedIn('hq');
    await page.getByRole('link', { name: 'Overview' }).click();
    const newark = page
      .getByTestId('table-offices')
      .locator('tr', { has: page.locator('th', { hasText: 'HSI-NEWARK' }) });
    await newark.waitFor();
    // Two open leads at Newark, one at Gulf Coast: in the table and in the chart's own summary.
    expect(await newark.locator('td').first().textContent()).toBe('2');
    const gulf = page
      .getByTestId('table-offices')
      .locator('tr', { has: page.locator('th', { hasText: 'HSI-GULFCOAST' }) });
    expect(await gulf.locator('td').first().textContent()).toBe('1');
    const summary = (await page.getByTestId('chart-offices').getAttribute('aria-label')) ?? '';
    expect(summary).toContain('HSI-NEWARK: 2 open');
    // A canvas is 300 px wide whether or not anything drew on it: count the pixels Chart.js painted instead.
    const painted = await page.getByTestId('chart-offices').evaluate((element) => {
      const canvas = element as unknown as {
        width: number;
        height: number;
        getContext(kind: '2d'): {
          getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
        };
      };
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let i = 3; i < data.length; i += 4) if ((data[i] ?? 0) > 0) count++;
      return count;
    });
    expect(painted).toBeGreaterThan(1_000);
    await expectAccessible(page, 'overview');
    await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });
    await page.context().close();
  });

  it('renders a queue of 2,000 leads and shows a change within seconds (figures printed)', async () => {
    // Rendering is measured on rows written straight into the read model (2,000 workflows would take minutes here);
    // the change measured is a real command on a real lead.
    await stack.db.pool.query(
      `INSERT INTO leads (lead_id, status, priority, source, kind, office, agent, stage, stage_deadline, fingerprint,
                          received_at, version, state)
       SELECT gen_random_uuid(), 'assigned', 'standard', 'ngo', 'interview_request', 'HSI-NEWARK', NULL,
              'interview_request', now() + (i || ' minutes')::interval, 'seeded-' || i,
              now() - (i || ' seconds')::interval, 2,
              -- The list reads the stage's clock from the state (its only part in clear); a real lead's will do.
              jsonb_build_object('sla', (SELECT state->'sla' FROM leads WHERE lead_id = $1))
         FROM generate_series(1, 2000) AS i`,
      [freshLead],
    );
    const page = await signedIn('hsi-newark.supervisor');
    const started = Date.now();
    await page.reload();
    await page.locator('table.queue tbody tr').nth(99).waitFor();
    const firstPageMs = Date.now() - started;
    const switched = Date.now();
    await page.getByLabel('Per page').selectOption('500');
    await page.locator('table.queue tbody tr').nth(499).waitFor();
    const fullPageMs = Date.now() - switched;

    const row = page.locator(`tr[data-lead="${freshLead}"]`);
    await row.waitFor();
    const changed = Date.now();
    const response = await fetch(`${base}/leads/${freshLead}/commands/ChangePriority`, {
      method: 'POST',
      headers: { ...(await access.as('hsi-newark.supervisor')), 'content-type': 'application/json' },
      body: JSON.stringify({ data: { priority: 'urgent', reason: 'a measured change' } }),
    });
    expect(response.status).toBe(200);
    const answeredMs = Date.now() - changed;
    await row.locator('.badge.urgent').waitFor({ timeout: 15_000 });
    const shownMs = Date.now() - changed;
    console.log(
      `[console] 2,002 leads in scope: first page (100 rows) ${firstPageMs} ms after a reload; 500 rows ${fullPageMs} ` +
        `ms; a command answered in ${answeredMs} ms showed in the queue ${shownMs} ms after it was sent ` +
        `(target: render <= 1,000 ms, update <= 5,000 ms)`,
    );
    await page.context().close();
  });
});

async function eventCount(leadId: string): Promise<number> {
  const { rows } = await stack.db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM lead_events WHERE lead_id = $1',
    [leadId],
  );
  return rows[0]!.n;
}
