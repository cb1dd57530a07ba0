import { parentPort, workerData } from 'node:worker_threads';
import { startApiSide, type ApiSide, type ApiSideOptions } from './api-side';

/** Messages between startLeadline (worker/leadline.ts) and the API thread. */
export type ApiThreadMessage = { type: 'ready'; url: string } | { type: 'failed'; message: string };

const port = parentPort;
if (port === null) throw new Error('worker/api-thread-main.ts runs in a worker thread (worker/api-thread.mjs)');
const send = (message: ApiThreadMessage) => port.postMessage(message);

let side: ApiSide | undefined;
port.on('message', (message: { type: 'stop' }) => {
  if (message.type !== 'stop') return;
  // Closing the port lets the thread end; startLeadline waits for its exit.
  void (side?.stop() ?? Promise.resolve()).finally(() => port.close());
});
try {
  side = await startApiSide(workerData as ApiSideOptions);
  send({ type: 'ready', url: side.url });
} catch (error) {
  send({ type: 'failed', message: (error as Error).message });
  port.close();
}
