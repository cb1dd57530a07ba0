import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/*
 * Go programs `npm run cluster` builds from their modules once per version (Temporal Server, the Temporal UI server),
 * kept in a cache outside any clone.
 */

/** `${LEADLINE_CACHE_DIR:-~/.cache/leadline}`: a fresh clone (CI's) reuses what an earlier one built. */
export function leadlineCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LEADLINE_CACHE_DIR || join(homedir(), '.cache', 'leadline');
}

/**
 * `go install` of `packages` (each `module/path@version`) with a Go workspace of its own under `dir/go` (module cache,
 * build cache and GOBIN: the binaries land in `dir/go/bin`), so that removing `dir` removes everything the build
 * left. `toolchain`: the GOTOOLCHAIN a module's go.mod asks for, when the local Go is older; else the local Go.
 */
export async function goInstall(options: {
  dir: string;
  packages: string[];
  toolchain?: string;
  logFile: string;
  what: string;
  env?: NodeJS.ProcessEnv;
}): Promise<string> {
  const go = join(options.dir, 'go');
  const env = options.env ?? process.env;
  await runLogged('go', ['install', ...options.packages], {
    cwd: options.dir,
    env: {
      ...env,
      ...(options.toolchain === undefined ? {} : { GOTOOLCHAIN: options.toolchain }),
      GOPATH: join(go, 'path'),
      GOMODCACHE: join(go, 'mod'),
      GOCACHE: join(go, 'build'),
      GOBIN: join(go, 'bin'),
      // Lets `rm -rf` clear the cache: Go makes its module cache read-only by default.
      GOFLAGS: '-modcacherw',
    },
    logFile: options.logFile,
    what: options.what,
  });
  return join(go, 'bin');
}

/** Runs a command with its output appended to `logFile`; rejects naming `what` and the log when it fails. */
export function runLogged(
  command: string,
  args: string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv; logFile: string; what: string },
): Promise<void> {
  const log = openSync(options.logFile, 'a');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: options.env,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    child.once('error', (error) => reject(new Error(`${options.what}: ${error.message}`)));
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${options.what} failed (exit ${code}); see ${options.logFile}`));
    });
  });
}
