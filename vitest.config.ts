import { defineConfig } from 'vitest/config';

// Temporal's native core has crashed inside worker threads, so every project runs in forked processes.
export default defineConfig({
  test: {
    pool: 'forks',
    // Leadline's loggers (activities/logger.ts) say only what went wrong: a run prints failures, not every notice.
    env: { LOG_LEVEL: 'warn' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.unit.test.ts'],
          pool: 'forks',
          // Bundling the workflow code and replaying every recorded history takes ~4 s alone, more on a busy machine.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'int',
          include: [
            'test/**/*.int.test.ts',
            'test/**/*.e2e.test.ts',
            // Files that need what `npm run cluster` builds with Go (the Temporal UI server): `npm run test:cluster` only.
            ...(process.env.LEADLINE_TEST_CLUSTER === '1' ? ['test/**/*.cluster.test.ts'] : []),
          ],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
