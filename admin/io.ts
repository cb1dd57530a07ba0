import { userInfo } from 'node:os';

/* What every admin tool shares: how it reports (lines to out and err), its exit codes, and who the audit log names. */

export type Say = (line: string) => void;

export interface AdminIo {
  /** One line of the report, without its newline. */
  out: Say;
  /** Where it connected, and errors. */
  err: Say;
}

/** Exit codes: 0 consistent, 1 differences found, 2 could not run. */
export type AdminExitCode = 0 | 1 | 2;

/** Who the audit log names when none is given: the person at the terminal. */
export function adminActor(env: NodeJS.ProcessEnv): string {
  if (env.LEADLINE_ACTOR) return env.LEADLINE_ACTOR;
  let user = env.USER;
  try {
    user ??= userInfo().username;
  } catch {
    // No passwd entry (a bare container).
  }
  return `admin:${user ?? 'unknown'}`;
}

export async function guarded(io: AdminIo, run: () => Promise<AdminExitCode>): Promise<AdminExitCode> {
  try {
    return await run();
  } catch (error) {
    io.err(`error: ${(error as Error).message ?? String(error)}`);
    return 2;
  }
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
