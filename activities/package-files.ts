import { fileURLToPath } from 'node:url';

/**
 * Whether this code runs compiled (`npm run build` emits `dist/node/<folder>/*.js`) or from its TypeScript sources
 * (`npm start` through tsx, and the tests through vitest). Files that live beside the code (config/, migrations/,
 * .data/, dist/console/, package.json) sit at the package's root either way; only the distance to it differs.
 */
export const runsCompiled = import.meta.url.endsWith('.js');

const packageRoot = new URL(runsCompiled ? '../../../' : '../', import.meta.url);

/** A path under the package's root, e.g. `packagePath('config/offices.json')`, from source and compiled alike. */
export function packagePath(relative: string): string {
  return fileURLToPath(new URL(relative, packageRoot));
}
