import { CommanderError, type Command } from 'commander';
import type { AdminExitCode, AdminIo } from './io';
import type { SimulateOptions } from './simulate';

/*
 * The operator's subcommands of `leadline` (verify, rebuild, simulate, recover, keys). They connect to PostgreSQL and
 * Temporal themselves, as `npm start` does, rather than through the HTTP API; each loads its module on use.
 */

/** What the admin subcommands need of the CLI's io (client/cli.ts). */
export interface AdminCliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Connection settings (as `npm start` reads them); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

type AdminRun = (env: NodeJS.ProcessEnv, io: AdminIo, options: { actor?: string }) => Promise<AdminExitCode>;

/** Adds the admin subcommands to `program`, whose `--actor` option names who runs them in the audit log. */
export function addAdminCommands(program: Command, io: AdminCliIo): void {
  // The tools print lines; the CLI's io writes chunks.
  const lines: AdminIo = { out: (line) => io.out(`${line}\n`), err: (line) => io.err(`${line}\n`) };
  const env = () => io.env ?? process.env;
  const actor = () => program.opts<{ actor: string }>().actor;
  const exitWith = (code: number, what: string) => {
    if (code !== 0) throw new CommanderError(code, 'leadline.admin', `${what} exited with ${code}`);
  };
  // Loaded on use: the CLI's other subcommands need neither pg nor these modules.
  const admin = (what: string, load: () => Promise<AdminRun>) => async () => {
    const run = await load();
    exitWith(await run(env(), lines, { actor: actor() }), what);
  };
  program
    .command('verify')
    .description(
      "compare every open lead's workflow state, read-model row and event log; exit 1 on any difference " +
        '(connects like npm start: DATABASE_URL or the embedded PostgreSQL, TEMPORAL_ADDRESS or the dev server)',
    )
    .action(admin('verify', async () => (await import('./verify')).runVerify));
  program
    .command('rebuild')
    .description(
      'rebuild the leads read model from the event log and compare it with the live rows; exit 1 on any difference',
    )
    .action(admin('rebuild', async () => (await import('./rebuild')).runRebuild));
  program
    .command('simulate')
    .description(
      'replay the event log under a proposed SLA policy beside the policy in force: rungs per office, leads past each ' +
        "stage's budget, and a self-check against what the log recorded; reads the log, changes nothing " +
        '(connects to PostgreSQL as verify does; opens no sealed field)',
    )
    .requiredOption('--policy <file>', 'the proposed SLA policy, as JSON (as LEADLINE_SLA_POLICY takes it)')
    .option('--in-force <file>', 'the policy in force (default: LEADLINE_SLA_POLICY, else the defaults)')
    .option('--since <duration>', 'only leads received within this window, e.g. 90d (default: the whole log)')
    .option('--office <office>', 'only rungs and breaches that fell to this office (or "unassigned")')
    .option('--as-of <instant>', "replay up to this ISO instant (default: now, or the log's latest event if later)")
    .option('--chart <file.svg>', 'also draw the comparison as an SVG bar chart')
    .option('--json', 'print the result as JSON')
    .action(async (opts: SimulateOptions) => {
      const { runSimulate } = await import('./simulate');
      exitWith(await runSimulate(env(), lines, opts), 'simulate');
    });
  program
    .command('recover')
    .description(
      "restart a lead's workflow from its event log if it is not running (terminated, failed, missing); " +
        'says what it found; connects as verify does',
    )
    .argument('<leadId>', 'lead id')
    .action(async (leadId: string) => {
      const { runRecover } = await import('./recover');
      exitWith(await runRecover(env(), lines, leadId, { actor: actor() }), 'recover');
    });
  const keys = program
    .command('keys')
    .description('the keyring that encrypts Temporal payloads and stored intakes (see docs/keys.md)');
  keys
    .command('rotate')
    .description(
      "add a new current key to the keyring file (LEADLINE_KEYRING, or the data folder's keyring.json); older keys " +
        'stay to decrypt, so leads begun under them keep working; restart Leadline to encrypt with it',
    )
    .action(admin('keys rotate', async () => (await import('./keys')).runKeysRotate));
  keys
    .command('list')
    .description(
      "the keyring's key ids (never the keys); --check: and whether it holds every key the stored leads need",
    )
    .option('--check', 'connect to PostgreSQL as verify does; exit 1 when a key the data needs is missing')
    .action(async (opts: { check?: boolean }) => {
      const { runKeysList } = await import('./keys');
      exitWith(await runKeysList(env(), lines, { check: opts.check === true }), 'keys list');
    });
}
