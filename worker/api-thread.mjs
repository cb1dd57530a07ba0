// The API side's thread (worker/api-side.ts), started by LEADLINE_ROLE=all. Node 20 does not give a worker thread
// the parent's `--import tsx` for a TypeScript entry, so this plain module registers tsx, then loads the thread.
import { register } from 'tsx/esm/api';

register();
await import('./api-thread-main.ts');
