// Preloaded by `npm start` (node --import ./worker/tsx-main-thread.mjs worker/start.ts) in place of `--import tsx`.
// Every thread inherits --import: with tsx there, the Temporal SDK's workflow thread loaded it too and ran with
// source maps on, so Node scanned each snippet the SDK compiles per workflow promise for a source-map comment
// (4 % of that thread's CPU in the bench). Only the main thread runs TypeScript; the API thread registers its own.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const { register } = await import('tsx/esm/api');
  register();
}
