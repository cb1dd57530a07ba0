import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goInstall, leadlineCacheDir } from './go-install';

/*
 * Temporal's standalone UI server (github.com/temporalio/ui-server, the same UI the `temporal` CLI embeds in its dev
 * server, with its built assets in the module), for `npm run cluster`: built from its Go module once per version, run
 * against the cluster's frontend, signing its users in to Leadline's OpenID provider and decoding payloads through
 * the API's codec server with the signed-in user's access token.
 */

export const TEMPORAL_UI_VERSION = '2.54.1';
const MODULE = 'github.com/temporalio/ui-server/v2';

/** `${LEADLINE_CACHE_DIR:-~/.cache/leadline}/temporal-ui/v<version>`: one folder per version, as the server's. */
export function temporalUiCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(leadlineCacheDir(env), 'temporal-ui', `v${TEMPORAL_UI_VERSION}`);
}

/**
 * The UI server's binary: TEMPORAL_UI_SERVER_PATH when set; else the cache's, built there with `go install` when
 * missing (its go.mod asks for go 1.26.5, so the local Go builds it; `go` must be on PATH and reaches the Go module
 * proxy). A build that did not finish leaves no completion marker, and the next start builds again.
 */
export async function ensureTemporalUi(say: (line: string) => void, env: NodeJS.ProcessEnv = process.env) {
  const fromEnv = env.TEMPORAL_UI_SERVER_PATH;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`TEMPORAL_UI_SERVER_PATH: ${fromEnv} does not exist`);
    return fromEnv;
  }
  const dir = temporalUiCacheDir(env);
  const binary = join(dir, 'bin', 'temporal-ui-server');
  const stamp = join(dir, 'complete.json');
  if (existsSync(stamp) && existsSync(binary)) return binary;

  const logFile = join(dir, 'build.log');
  mkdirSync(dir, { recursive: true });
  say(
    `Temporal UI ${TEMPORAL_UI_VERSION} is not built yet: building its server from the Go module proxy into ${dir} ` +
      `(a few minutes on 2 cores, once per version; log ${logFile})`,
  );
  const started = Date.now();
  const built = await goInstall({
    dir,
    packages: [`${MODULE}/cmd/server@v${TEMPORAL_UI_VERSION}`],
    logFile,
    what: 'go install of the Temporal UI server',
    env,
  });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  renameSync(join(built, 'server'), binary);
  const seconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(
    stamp,
    `${JSON.stringify({ version: TEMPORAL_UI_VERSION, builtAt: new Date().toISOString(), buildSeconds: seconds })}\n`,
  );
  say(
    `Temporal UI ${TEMPORAL_UI_VERSION} built in ${seconds} s (${(statSync(binary).size / 1e6).toFixed(0)} MB binary)`,
  );
  return binary;
}
