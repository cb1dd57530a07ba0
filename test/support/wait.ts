/** Polls `check` until it holds; fails with `what` when it does not within `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, what = 'condition', timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not met in ${timeoutMs} ms`);
}
