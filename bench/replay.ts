import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { leadBundlerOptions, workflowsPath } from '../worker/worker';
import { round } from './stats';

/*
 * `npm run bench:replay`: what a worker pays to take up a lead it does not hold in its cache, that is, to replay the
 * lead's history before it can act on it. A worker back from an outage does this once for every lead that has work
 * due (a rung, a command), so this cost, times those leads, is most of its catch-up (docs/performance.md).
 *
 * It replays the recorded histories of the newest release (test/fixtures/histories/) many times through the SDK's
 * replayer with the bundle the worker builds, and reads the process's CPU time. The replayer runs the workflow code on
 * the main thread where a worker uses a workflow thread; forced onto a thread, the figure was within 10 % of this.
 * Not included: the payload codec (the recordings are not encrypted) and fetching the history.
 */

const USAGE = `npm run bench:replay [-- options]
  --copies <n>    replays of each recorded history per round (default 100)
  --rounds <n>    rounds; the first warms the JIT and is not counted (default 3)
  --out <file>    the figures as JSON (default bench/results/replay.json)`;

const { values } = parseArgs({
  options: {
    copies: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: 'bench/results/replay.json' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const copies = Number(values.copies);
const rounds = Number(values.rounds);
if (!Number.isInteger(copies) || copies < 1 || !Number.isInteger(rounds) || rounds < 2) {
  console.error(`bench:replay: --copies takes a whole number from 1, --rounds one from 2\n${USAGE}`);
  process.exit(2);
}

const { History } = proto.temporal.api.history.v1;
const EventType = proto.temporal.api.enums.v1.EventType;
const fixtures = fileURLToPath(new URL('../test/fixtures/histories/', import.meta.url));
const release = readdirSync(fixtures, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  .at(-1);
if (release === undefined) throw new Error(`no recorded histories in ${fixtures}`);
// The long lead is the worst case, kept apart: a returning worker mostly meets leads of ordinary length.
const files = readdirSync(`${fixtures}${release}`)
  .filter((f) => f.endsWith('.json') && !f.startsWith('long-lead'))
  .sort();
const histories = files.map((file) => {
  const history = History.fromObject(JSON.parse(readFileSync(`${fixtures}${release}/${file}`, 'utf8')));
  const events = history.events ?? [];
  const tasks = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length;
  return { file, history, events: events.length, tasks };
});
const eventsPerLead = histories.reduce((n, h) => n + h.events, 0) / histories.length;
const tasksPerLead = histories.reduce((n, h) => n + h.tasks, 0) / histories.length;

// The SDK logs each replay worker's start and stop; only its warnings matter here.
Runtime.install({ logger: new DefaultLogger('WARN') });
const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const { code } = await bundleWorkflowCode({ workflowsPath, ...leadBundlerOptions('off'), logger: silent });

console.log(
  `Replaying release ${release}'s recordings (${files.join(', ')}): ${round(eventsPerLead, 0)} events and ` +
    `${round(tasksPerLead, 1)} workflow tasks a lead on average; ${copies} copies of each per round, ` +
    `${cpus().length} cores`,
);
const measured: { cpuMsPerLead: number; wallMsPerLead: number }[] = [];
for (let r = 0; r < rounds; r++) {
  function* leads() {
    for (let k = 0; k < copies; k++) {
      for (const h of histories) yield { workflowId: `${h.file}-${r}-${k}`, history: h.history };
    }
  }
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let n = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code } }, leads())) {
    if (result.error !== undefined) throw result.error;
    n++;
  }
  const cpu = process.cpuUsage(cpu0);
  const figures = {
    cpuMsPerLead: (cpu.user + cpu.system) / 1000 / n,
    wallMsPerLead: (performance.now() - wall0) / n,
  };
  console.log(
    `  round ${r + 1}${r === 0 ? ' (warm-up)' : ''}: ${n} leads, ${round(figures.cpuMsPerLead, 1)} ms CPU and ` +
      `${round(figures.wallMsPerLead, 1)} ms wall a lead`,
  );
  if (r > 0) measured.push(figures);
}
const cpuMsPerLead = measured.reduce((s, m) => s + m.cpuMsPerLead, 0) / measured.length;
const cpuMsPerTask = cpuMsPerLead / tasksPerLead;
const result = {
  startedAt: new Date().toISOString(),
  release,
  histories: histories.map(({ file, events, tasks }) => ({ file, events, tasks })),
  copies,
  rounds,
  cpu_ms_per_lead: round(cpuMsPerLead, 1),
  cpu_ms_per_workflow_task: round(cpuMsPerTask, 2),
  wall_ms_per_lead: round(measured.reduce((s, m) => s + m.wallMsPerLead, 0) / measured.length, 1),
  // One core's worth of catch-up for a worker back from an outage, per 100 leads with work due.
  cpu_s_per_100_leads: round(cpuMsPerLead / 10, 1),
};
console.log(
  `replay: ${result.cpu_ms_per_lead} ms CPU a lead (${result.cpu_ms_per_workflow_task} ms a workflow task); ` +
    `${result.cpu_s_per_100_leads} s of one core for every 100 leads a returning worker must take up`,
);
const out = resolve(fileURLToPath(new URL('..', import.meta.url)), values.out);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
