import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureHttpCommands, measureHttpFloor, measureSequentialCommands } from './phases/commands';
import { measureEscalation, type EscalationResult } from './phases/escalation';
import { measureIntake, type IntakeResult } from './phases/intake';
import { measureList, type ListResult } from './phases/list';
import { measureScale, type ScaleResult } from './phases/scale';
import { measureThroughput, type ThroughputResult } from './phases/throughput';
import { parseOptions, type BenchOptions } from './options';
import { cpuMeter, type CpuPct } from './procfs';
import { summarizeProfiles } from './profile-summary';
import { markdownTable, missed, notRun, row, type TargetRow } from './report';
import { startBenchStack, type BenchStack } from './stack';
import { bytesPerLead, storageSnapshot } from './storage';
import { mapConcurrent, round, type LatencySummary } from './stats';
import {
  baselineLifecycle,
  countHistory,
  leadlineLifecycle,
  probeLeadShape,
  waitForQuiet,
  type HistoryCount,
  type LeadShape,
} from './workload';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

const say = (line: string) => console.log(line);
const elapsed = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

const FIGURES = ['commands', 'throughput', 'intake', 'scale', 'escalation', 'list'] as const;
type Figure = (typeof FIGURES)[number];
let selected: ReadonlySet<string> = new Set(FIGURES);
let leadlineCrashed: Promise<never> = new Promise(() => undefined);

async function phase<T>(
  figure: Figure | 'setup',
  name: string,
  errors: Record<string, string>,
  work: () => Promise<T>,
): Promise<T | undefined> {
  if (figure !== 'setup' && !selected.has(figure)) return undefined;
  const t0 = performance.now();
  say(`\n== ${name}`);
  try {
    const result = await Promise.race([work(), leadlineCrashed]);
    say(`   done in ${elapsed(t0)}`);
    return result;
  } catch (error) {
    errors[name] = (error as Error).stack ?? String(error);
    say(`   FAILED after ${elapsed(t0)}: ${(error as Error).message}`);
    return undefined;
  }
}

const lat = (s: LatencySummary | undefined) => `p50 ${s?.p50 ?? NaN} ms, p99 ${s?.p99 ?? NaN} ms (n=${s?.n ?? 0})`;
const cpu = (c: Record<string, number> | undefined) =>
  c === undefined
    ? ''
    : `CPU % of one core: leadline ${c.leadline}, temporal ${c.temporal}, postgres ${c.postgres}, bench ${c.bench}; total ${c.total} of 200 (other processes on the machine: ${c.other})`;

export async function runBench(options: BenchOptions): Promise<Record<string, unknown>> {
  const wall0 = performance.now();
  const startedAt = new Date().toISOString();
  const errors: Record<string, string> = {};
  const only = options.only
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const unknown = only.filter((f) => !(FIGURES as readonly string[]).includes(f));
  if (unknown.length > 0) throw new Error(`--only takes ${FIGURES.join(', ')}; not ${unknown.join(', ')}`);
  selected = new Set(only.length > 0 ? only : FIGURES);
  const profileDir = options.profile
    ? join(projectRoot, 'bench/results/profiles', startedAt.replace(/[:.]/g, '-'))
    : undefined;
  say(
    `Leadline bench (${options.quick ? 'quick' : 'full'}) on ${cpus().length} cores, ${round(totalmem() / 2 ** 30, 0)} GiB`,
  );
  say(JSON.stringify(options));

  const stack: BenchStack = await startBenchStack({
    logLevel: options.logLevel,
    cachedLeads: options.cachedLeads,
    keepData: options.keepData,
    ...(profileDir ? { profileDir } : {}),
    temporalArgs: options.temporalArgs.split(/\s+/).filter(Boolean),
    apiProcess: options.apiProcess,
    temporal: options.temporal,
    say,
  });
  say(
    `Leadline up in ${(stack.startedInMs / 1000).toFixed(1)} s (data ${stack.dataDir}); API ${stack.apiUrl}; ` +
      `Temporal ${options.temporal === 'cluster' ? 'Server on PostgreSQL' : 'dev server'} at ${stack.temporalAddress}` +
      (options.apiProcess ? ' in a process of its own (its CPU counts as bench)' : ''),
  );
  leadlineCrashed = stack.crashed;

  let light: LatencySummary | undefined;
  let httpLight: LatencySummary | undefined;
  let httpFloor: { healthz: LatencySummary; me: LatencySummary } | undefined;
  let baselineLight: LatencySummary | undefined;
  let leadlineTp: ThroughputResult | undefined;
  let storage: ReturnType<typeof bytesPerLead> | undefined;
  let baselineTp: ThroughputResult | undefined;
  let intake: IntakeResult | undefined;
  let scale: ScaleResult | undefined;
  let escalation: EscalationResult | undefined;
  let list: ListResult | undefined;
  let listQuiet: ListResult | undefined;
  let shape: LeadShape | undefined;
  let lightCpu: CpuPct | undefined;
  let baselineHistory: HistoryCount | undefined;
  try {
    const leads = stack.leadClient();
    // What one phase started must be finished before the next is measured.
    const settle = async () => {
      try {
        say(`   quiet again after ${round(await waitForQuiet(stack.pool), 1)} s more`);
      } catch (error) {
        say(`   NOT quiet: ${(error as Error).message}`);
      }
    };
    const leadline = leadlineLifecycle(leads, stack.temporal, options.pollMs);
    shape = await probeLeadShape(stack.temporal, leadline);
    say(
      `One lead's happy path: ${shape.updates} updates, activities ${JSON.stringify(shape.activities)}; ` +
        `baseline: chain [${shape.chain.join(', ')}], ${shape.side} beside, commands ${JSON.stringify(shape.commands)}`,
    );
    const baseline = baselineLifecycle(stack.plainTemporal, shape, options.pollMs);
    baselineHistory = await countHistory(stack.plainTemporal, await baseline.run());
    say(
      `History per lifecycle: Leadline ${shape.history.events} events, ${shape.history.bytes} bytes; ` +
        `baseline ${baselineHistory.events} events, ${baselineHistory.bytes} bytes`,
    );
    // A few open leads (and baseline twins) take the AddNote commands, so no history grows long.
    const noteTargets = options.quick ? 4 : 8;
    const needTargets = selected.has('commands') || selected.has('throughput');
    const targets = needTargets
      ? await phase('setup', 'preparing note targets', errors, async () => ({
          leadline: await mapConcurrent(Array.from({ length: noteTargets }), 4, () => leadline.prepareTarget()),
          baseline: await mapConcurrent(Array.from({ length: noteTargets }), 4, () => baseline.prepareTarget()),
        }))
      : { leadline: [], baseline: [] };
    if (targets === undefined) throw new Error('no note targets: nothing else can run');

    light = await phase('commands', '2. command latency, light load (sequential AddNote)', errors, async () => {
      const meter = cpuMeter(stack.leadlinePid);
      const result = await measureSequentialCommands(leadline, targets.leadline, options.commands);
      say(`   Leadline AddNote: ${lat(result)}`);
      httpLight = await measureHttpCommands(stack.apiUrl, stack.hqAuthorization, targets.leadline, options.commands);
      say(
        `   Leadline AddNote over HTTP (bearer token, access check, audit): ${lat(httpLight)}; ` +
          `p50 ${round(httpLight.p50 - result.p50, 2)} ms above the LeadClient's`,
      );
      httpFloor = await measureHttpFloor(stack.apiUrl, stack.hqAuthorization, options.commands);
      say(
        `   HTTP alone: GET /healthz ${lat(httpFloor.healthz)}; GET /me (token verified) ${lat(httpFloor.me)}: ` +
          `authentication p50 ${round(httpFloor.me.p50 - httpFloor.healthz.p50, 2)} ms`,
      );
      baselineLight = await measureSequentialCommands(baseline, targets.baseline, options.commands);
      say(`   baseline note update: ${lat(baselineLight)}`);
      lightCpu = meter();
      say(`   ${cpu(lightCpu)}`);
      return result;
    });

    const tpOptions = {
      drivers: options.drivers,
      warmupMs: options.warmupSeconds * 1000,
      windowMs: options.throughputSeconds * 1000,
      leadlinePid: stack.leadlinePid,
    };
    leadlineTp = await phase(
      'throughput',
      `1. lifecycle throughput, Leadline (${options.drivers} drivers)`,
      errors,
      async () => {
        const before = await storageSnapshot(stack.pool);
        const r = await measureThroughput(leadline, { ...tpOptions, noteTargets: targets.leadline });
        const grown = bytesPerLead(before, await storageSnapshot(stack.pool));
        storage = grown;
        say(
          `   ${r.perSecond} leads/s; lifecycle ${lat(r.lifecycleMs)}; AddNote under load ${lat(r.commandUnderLoadMs)}; ` +
            `${r.pollsPerLifecycle} status queries per lifecycle`,
        );
        say(`   ${cpu(r.cpuPct)}; errors ${r.errors} ${r.firstErrors.join(' | ')}`);
        // No lifecycle finished: no cost per lifecycle (NaN), not Infinity.
        const cpuMs = (pct: number) => (r.perSecond > 0 ? round(((pct / 100) * 1000) / r.perSecond, 0) : Number.NaN);
        say(
          `   per lifecycle: CPU ${cpuMs(r.cpuPct.leadline)} ms Leadline, ${cpuMs(r.cpuPct.temporal)} ms Temporal, ` +
            `${cpuMs(r.cpuPct.postgres)} ms PostgreSQL; database growth per lead ${grown.leadline_bytes_per_lead} bytes ` +
            `Leadline, ${grown.temporal_bytes_per_lead} bytes Temporal (${grown.leads} leads; NaN: not on PostgreSQL)`,
        );
        return r;
      },
    );
    baselineTp = await phase(
      'throughput',
      `1. lifecycle throughput, baseline (${options.drivers} drivers)`,
      errors,
      async () => {
        const r = await measureThroughput(baseline, { ...tpOptions, noteTargets: targets.baseline });
        say(
          `   ${r.perSecond} workflows/s; lifecycle ${lat(r.lifecycleMs)}; note under load ${lat(r.commandUnderLoadMs)}; ` +
            `${r.pollsPerLifecycle} stage queries per lifecycle`,
        );
        say(`   ${cpu(r.cpuPct)}; errors ${r.errors} ${r.firstErrors.join(' | ')}`);
        return r;
      },
    );

    intake = await phase(
      'intake',
      `3. intake latency, POST /leads at ${options.intakeRate}/s for ${options.intakeSeconds} s, answered once ${options.intakeWait}`,
      errors,
      async () => {
        const r = await measureIntake({
          apiUrl: stack.apiUrl,
          authorization: stack.intakeAuthorization,
          pool: stack.pool,
          rate: options.intakeRate,
          seconds: options.intakeSeconds,
          wait: options.intakeWait,
          leadlinePid: stack.leadlinePid,
        });
        say(
          `   all requests: ${lat(r.latencyMs)}, max ${r.latencyMs.max} ms; ${r.ok}/${r.sent} answered ${r.wait === 'accepted' ? 202 : 201} (those: ${lat(r.okLatencyMs)}), ${r.refused} refused with 429; bench send lag p99 ${r.sendLagP99Ms} ms`,
        );
        say(`   every one recorded and routed ${r.settleSeconds} s after the last answer; ${cpu(r.cpuPct)}`);
        await settle();
        if (r.errors > 0) say(`   errors: ${r.firstErrors.join(' | ')}`);
        return r;
      },
    );

    scale = await phase('scale', `5. scale: ${options.leadsScale} open leads`, errors, async () => {
      const r = await measureScale(stack, leads, {
        count: options.leadsScale,
        concurrency: options.submitConcurrency,
        idleSeconds: options.idleSeconds,
      });
      say(`   submitted in ${r.submitSeconds} s, all routed in ${r.startSeconds} s (${r.startRatePerSecond} leads/s)`);
      say(
        `   worker RSS ${r.workerRssMb} MiB (peak ${r.workerPeakRssMb}), main heap ${r.workerHeapUsedMb}/${r.workerHeapTotalMb} MiB, cache slots ${r.workflowCacheSlots}`,
      );
      say(
        `   Temporal CPU ${r.temporalCpuSeconds} s (${r.temporalCpuPctDuringStart} % of a core while starting); ${cpu(r.cpuPct)}`,
      );
      say(`   idle with all open: ${cpu(r.idleCpuPct)}`);
      say(
        `   ${r.leads} of ${r.requested} started (${r.submitFailed} submissions failed for good, ${r.submitRetries} retried); ` +
          `running workflows ${r.runningBefore} → ${r.runningAfter}; receipted leads not running in Temporal ${r.missingFromTemporal}; ` +
          `assigned rows ${r.rowsAssigned}; lost ${r.lost}`,
      );
      if (r.firstErrors.length > 0) say(`   errors: ${r.firstErrors.join(' | ')}`);
      await settle();
      return r;
    });

    const listPhase = async () => {
      const meter = cpuMeter(stack.leadlinePid);
      const r = await measureList({
        apiUrl: stack.apiUrl,
        authorization: stack.hqAuthorization,
        pool: stack.pool,
        requests: options.listRequests,
      });
      say(`   ${lat(r.latencyMs)} over ${r.rows} leads (${r.overdueRows} overdue, ${r.pageItems} per page)`);
      say(`   ${cpu(meter())}`);
      return r;
    };
    // Once on a quiet system; the headline figure comes after the escalations, with overdue leads to list.
    listQuiet = selected.has('escalation')
      ? await phase('list', '6. supervisor list, GET /leads?overdue=true, quiet system', errors, () => listPhase())
      : undefined;

    escalation = await phase(
      'escalation',
      `4. escalation lag: ${options.escalationLeads} unrouted leads, first rungs due ${options.escalationFirstRungSeconds}–${options.escalationFirstRungSeconds + options.escalationWindowSeconds} s from now`,
      errors,
      async () => {
        const r = await measureEscalation(stack, {
          count: options.escalationLeads,
          concurrency: options.submitConcurrency,
          firstRungSeconds: options.escalationFirstRungSeconds,
          windowSeconds: options.escalationWindowSeconds,
        });
        say(
          `   submitted in ${r.submitSeconds} s (time scales ${r.timeScale.min}–${r.timeScale.max}); first rungs due over ${r.dueSpreadSeconds} s; ${r.outsideWindow} leads aimed outside the window`,
        );
        say(
          `   lag ${lat(r.lagMs)}, max ${r.lagMs.max} ms over ${r.events} events; rungs due but not recorded: ${r.missing}`,
        );
        if (r.submitFailed > 0 || r.submitRetries > 0) {
          say(`   ${r.leads} leads started; ${r.submitFailed} submissions failed for good, ${r.submitRetries} retried`);
        }
        say(`   of which timer → workflow task ${lat(r.wakeMs)}; workflow task → row ${lat(r.writeMs)}`);
        for (const [kind, s] of Object.entries(r.byKind)) say(`   ${kind}: ${lat(s)}, max ${s.max} ms`);
        say(`   ${cpu(r.cpuPct)}`);
        return r;
      },
    );

    list = await phase(
      'list',
      `6. supervisor list, GET /leads?overdue=true${escalation ? ', escalation leads overdue and still climbing' : ''}`,
      errors,
      () => listPhase(),
    );
  } finally {
    say('\nstopping Leadline...');
    await stack.stop();
  }

  const ratio =
    leadlineTp !== undefined && baselineTp !== undefined && baselineTp.perSecond > 0
      ? round(leadlineTp.perSecond / baselineTp.perSecond, 3)
      : NaN;
  const results = {
    meta: {
      startedAt,
      wallSeconds: round((performance.now() - wall0) / 1000, 1),
      mode: options.quick ? 'quick' : 'full',
      options,
      node: process.version,
      commit: gitCommit(),
      cores: cpus().length,
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      leadlineStartSeconds: round(stack.startedInMs / 1000, 1),
      perLead: shape,
      baselineHistory,
    },
    throughput: {
      leadline_per_s: leadlineTp?.perSecond ?? NaN,
      baseline_per_s: baselineTp?.perSecond ?? NaN,
      ratio,
      drivers: options.drivers,
      window_s: options.throughputSeconds,
      leadline: leadlineTp,
      baseline: baselineTp,
      storage,
    },
    command_latency_ms: light ?? nanLatency(),
    command_latency_cpu_pct: lightCpu,
    command_latency_http_ms: httpLight ?? nanLatency(),
    http_healthz_ms: httpFloor?.healthz ?? nanLatency(),
    http_me_ms: httpFloor?.me ?? nanLatency(),
    command_latency_under_load_ms: leadlineTp?.commandUnderLoadMs ?? nanLatency(),
    baseline_command_latency_ms: baselineLight ?? nanLatency(),
    baseline_command_latency_under_load_ms: baselineTp?.commandUnderLoadMs ?? nanLatency(),
    intake_latency_ms: intake?.latencyMs ?? nanLatency(),
    intake: intake === undefined ? undefined : { ...intake, leadIds: undefined },
    escalation_lag_ms: escalation?.lagMs ?? nanLatency(),
    escalation: escalation === undefined ? undefined : { ...escalation, leadIds: undefined },
    scale: {
      leads: scale?.leads ?? NaN,
      worker_rss_mb: scale?.workerRssMb ?? NaN,
      worker_peak_rss_mb: scale?.workerPeakRssMb ?? NaN,
      worker_heap_used_mb: scale?.workerHeapUsedMb ?? NaN,
      start_s: scale?.startSeconds ?? NaN,
      submit_s: scale?.submitSeconds ?? NaN,
      lost: scale?.lost ?? NaN,
      temporal_cpu_s: scale?.temporalCpuSeconds ?? NaN,
      temporal_cpu_pct: scale?.temporalCpuPctDuringStart ?? NaN,
      detail: scale,
    },
    list_latency_ms: list?.latencyMs ?? nanLatency(),
    list,
    list_quiet_latency_ms: listQuiet?.latencyMs,
    list_quiet: listQuiet,
    errors,
  };

  const rows: TargetRow[] = (
    [
      ['throughput', row('Lifecycle throughput, Leadline', results.throughput.leadline_per_s, 'leads/s')],
      ['throughput', row('Lifecycle throughput, baseline', results.throughput.baseline_per_s, 'wf/s')],
      ['throughput', row('Throughput ratio Leadline/baseline', ratio, '', { op: '>=', value: 0.8 })],
      [
        'commands',
        row('Command latency p50, light load', results.command_latency_ms.p50, 'ms', { op: '<=', value: 15 }),
      ],
      [
        'commands',
        row('Command latency p99, light load', results.command_latency_ms.p99, 'ms', { op: '<=', value: 50 }),
      ],
      [
        'commands',
        row('Command latency p50 over HTTP (token, access check, audit)', results.command_latency_http_ms.p50, 'ms'),
      ],
      [
        'commands',
        row('Command latency p99 over HTTP (token, access check, audit)', results.command_latency_http_ms.p99, 'ms'),
      ],
      [
        'throughput',
        row('Command latency p50, under throughput load', results.command_latency_under_load_ms.p50, 'ms'),
      ],
      [
        'throughput',
        row('Command latency p99, under throughput load', results.command_latency_under_load_ms.p99, 'ms'),
      ],
      [
        'intake',
        row(
          `Intake POST /leads p50 at ${options.intakeRate}/s, ${options.intakeWait}`,
          results.intake_latency_ms.p50,
          'ms',
        ),
      ],
      [
        'intake',
        row(
          `Intake POST /leads p99 at ${options.intakeRate}/s, ${options.intakeWait}`,
          results.intake_latency_ms.p99,
          'ms',
          {
            op: '<=',
            value: 100,
          },
        ),
      ],
      [
        'intake',
        row(
          `Intake POST /leads refused with 429 (of ${results.intake?.sent ?? NaN})`,
          results.intake?.refused ?? NaN,
          '',
        ),
      ],
      ['escalation', row('Escalation lag p50', results.escalation_lag_ms.p50, 'ms')],
      ['escalation', row('Escalation lag p99', results.escalation_lag_ms.p99, 'ms', { op: '<=', value: 2000 })],
      ['escalation', row('Escalation lag max', results.escalation_lag_ms.max, 'ms')],
      [
        'scale',
        row(`Scale: worker RSS with ${results.scale.leads} open leads`, results.scale.worker_rss_mb, 'MiB', {
          op: '<=',
          value: 1536,
        }),
      ],
      [
        'scale',
        row(`Scale: leads started of ${options.leadsScale}`, results.scale.leads, '', {
          op: '=',
          value: options.leadsScale,
        }),
      ],
      ['scale', row('Scale: leads lost', results.scale.lost, '', { op: '=', value: 0 })],
      ['scale', row('Scale: time to start them all', results.scale.start_s, 's')],
      ['scale', row('Scale: Temporal server CPU while starting', results.scale.temporal_cpu_s, 'CPU s')],
      ['escalation', row('Supervisor list p99, quiet system', listQuiet?.latencyMs.p99 ?? NaN, 'ms')],
      ['list', row('Supervisor list p50', results.list_latency_ms.p50, 'ms')],
      ['list', row('Supervisor list p99', results.list_latency_ms.p99, 'ms', { op: '<=', value: 20 })],
    ] as [Figure, TargetRow][]
  ).map(([figure, r]) => (selected.has(figure) ? r : notRun(r)));

  const outPath = resolve(projectRoot, options.out);
  await mkdir(dirname(outPath), { recursive: true });
  const final = { ...results, targets: rows };
  await writeFile(outPath, `${JSON.stringify(final, null, 2)}\n`);

  say(`\n## Leadline bench, ${options.quick ? 'quick' : 'full'} mode: ${results.meta.wallSeconds} s wall\n`);
  say(markdownTable(rows));
  const misses = missed(rows);
  say('');
  for (const line of misses) say(line);
  if (misses.length === 0) say('Every target was met.');
  for (const [name, message] of Object.entries(errors)) say(`PHASE FAILED: ${name}: ${message.split('\n')[0]}`);
  say(`\nresults: ${outPath}`);
  if (profileDir !== undefined) say(`\n${await summarizeProfiles(profileDir)}`);
  return final;
}

/** The commit measured, and whether the tree had changes on top of it: the code under test moves. */
function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: projectRoot,
      encoding: 'utf8',
    }).trim();
    return dirty === '' ? head : `${head}+changes`;
  } catch {
    return 'unknown';
  }
}

function nanLatency(): LatencySummary {
  return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  // After a crash of the Leadline process, work still in flight fails as its connections close: say it once.
  let reported = false;
  process.on('unhandledRejection', (reason) => {
    if (!reported) console.error(`(after a failure) ${(reason as Error).message ?? String(reason)}`);
    reported = true;
  });
  runBench(options).then(
    (results) => process.exit(Object.keys(results.errors as object).length > 0 ? 1 : 0),
    (error: unknown) => {
      console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
      process.exit(1);
    },
  );
}
