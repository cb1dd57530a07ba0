// The API side's thread (worker/api-side.ts), started by LEADLINE_ROLE=all. The process registers tsx in its main
// thread only (worker/tsx-main-thread.mjs), so this plain module registers it here, then loads the thread.
import { register } from 'tsx/esm/api';

register();
await import('./api-thread-main.ts');
