/** Builds the console into dist/console (see build-console.mjs). */
export function buildConsole(options?: { quiet?: boolean }): Promise<void>;
