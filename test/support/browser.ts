/**
 * A real Chromium for the console's tests: Debian's `chromium` (CHROMIUM_PATH overrides), driven by playwright-core,
 * with the flags a closed network needs (no background calls home). Also: signing in through the console and the
 * development provider's own form, and axe-core's accessibility check of the page as it stands.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

const require = createRequire(import.meta.url);

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(
      `no Chromium at ${path}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`,
    );
  }
  return path;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Opens the console signed out, presses "Sign in", fills the provider's form and comes back to the queue. */
export async function signInThroughConsole(page: Page, base: string, login: string, password: string) {
  await page.goto(`${base}/console/`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('User').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const signedIn = page.getByText('Signed in as');
  const refused = page.locator('[role="alert"]');
  await signedIn.or(refused).first().waitFor();
  if (!(await signedIn.isVisible()))
    throw new Error(`the console did not sign in: ${await refused.first().textContent()}`);
}

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
}

let axeSource: Promise<string> | undefined;

/** axe-core's violations of the page as it is now, serious and critical ones only. */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  axeSource ??= readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol, so the page's script policy (its own scripts only) is kept as it is.
  await page.evaluate(await axeSource);
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
    const outcome = await axe.run();
    return outcome.violations as { id: string; impact: string | null; help: string; nodes: unknown[] }[];
  });
  return results
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
}
