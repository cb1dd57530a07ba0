import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  /** Concurrent lifecycle drivers in the throughput figure. */
  drivers: number;
  warmupSeconds: number;
  throughputSeconds: number;
  /** Sequential AddNote commands at light load. */
  commands: number;
  intakeRate: number;
  intakeSeconds: number;
  /** What POST /leads waits for: `accepted` (Prefer: respond-async, 202) or `received` (the intake recorded, 201). */
  intakeWait: 'accepted' | 'received';
  escalationLeads: number;
  /** Seconds from the start of the phase to the window in which the escalation leads' first rungs fall. */
  escalationFirstRungSeconds: number;
  /** Width of that window: every first rung falls inside it. */
  escalationWindowSeconds: number;
  leadsScale: number;
  /** Submissions in flight while starting the scale and escalation leads. */
  submitConcurrency: number;
  listRequests: number;
  /** Idle seconds with every scale lead open, to read what holding them costs. */
  idleSeconds: number;
  /** Interval of the driver's wait for automatic routing (a query per poll). */
  pollMs: number;
  logLevel: string;
  /** Leadline's LEADLINE_CACHED_LEADS: leads the worker keeps in memory (the baseline worker gets the same). */
  cachedLeads: number;
  out: string;
  keepData: boolean;
  /** Write V8 CPU profiles of the Leadline process to bench/results/profiles and summarise them. */
  profile: boolean;
  /** Run the HTTP API in a process of its own (LEADLINE_ROLE=api) instead of beside the worker. */
  apiProcess: boolean;
  /** Extra `temporal server start-dev` arguments (space-separated), to measure dev-server settings. */
  temporalArgs: string;
  /** `dev`: the Temporal dev server (SQLite), as `npm start`; `cluster`: Temporal Server on the bench's PostgreSQL. */
  temporal: 'dev' | 'cluster';
  /** Comma-separated figures to measure (commands, throughput, intake, scale, escalation, list); empty: all. */
  only: string;
}

interface Spec {
  key: keyof BenchOptions;
  type: 'number' | 'boolean' | 'string';
  full: number | boolean | string;
  quick: number | boolean | string;
  help: string;
}

const specs: Spec[] = [
  { key: 'drivers', type: 'number', full: 8, quick: 4, help: 'concurrent lifecycle drivers' },
  { key: 'warmupSeconds', type: 'number', full: 5, quick: 2, help: 'throughput warm-up before each window' },
  {
    key: 'throughputSeconds',
    type: 'number',
    full: 30,
    quick: 4,
    help: 'throughput window, each of Leadline and baseline',
  },
  { key: 'commands', type: 'number', full: 300, quick: 30, help: 'sequential AddNote commands at light load' },
  { key: 'intakeRate', type: 'number', full: 50, quick: 5, help: 'POST /leads per second, open loop' },
  { key: 'intakeSeconds', type: 'number', full: 30, quick: 4, help: 'seconds of intake' },
  {
    key: 'intakeWait',
    type: 'string',
    full: 'accepted',
    quick: 'accepted',
    help: 'POST /leads answered once Temporal holds the lead (accepted: Prefer: respond-async) or its intake is recorded (received)',
  },
  {
    key: 'escalationLeads',
    type: 'number',
    full: 1000,
    quick: 30,
    help: 'unrouted leads escalating in the same minute',
  },
  {
    key: 'escalationFirstRungSeconds',
    type: 'number',
    full: 75,
    quick: 6,
    help: 'seconds until the first rungs start falling',
  },
  { key: 'escalationWindowSeconds', type: 'number', full: 60, quick: 3, help: 'window the first rungs fall in' },
  { key: 'leadsScale', type: 'number', full: 2000, quick: 60, help: 'open leads held by one worker' },
  {
    key: 'submitConcurrency',
    type: 'number',
    full: 32,
    quick: 24,
    help: 'submissions in flight when starting many leads',
  },
  { key: 'listRequests', type: 'number', full: 300, quick: 40, help: 'GET /leads?overdue=true requests' },
  { key: 'idleSeconds', type: 'number', full: 10, quick: 1, help: 'idle seconds with all scale leads open' },
  { key: 'pollMs', type: 'number', full: 20, quick: 20, help: "driver's poll interval while waiting for routing" },
  { key: 'logLevel', type: 'string', full: 'info', quick: 'info', help: "Leadline's LOG_LEVEL" },
  { key: 'cachedLeads', type: 'number', full: 1000, quick: 1000, help: "Leadline's LEADLINE_CACHED_LEADS" },
  {
    key: 'out',
    type: 'string',
    full: 'bench/results/latest.json',
    quick: 'bench/results/latest.json',
    help: 'results file',
  },
  { key: 'keepData', type: 'boolean', full: false, quick: false, help: 'keep the temporary data dir' },
  {
    key: 'apiProcess',
    type: 'boolean',
    full: false,
    quick: false,
    help: 'run the HTTP API in a process of its own (LEADLINE_ROLE=api), not beside the worker',
  },
  { key: 'profile', type: 'boolean', full: false, quick: false, help: 'CPU-profile the Leadline process' },
  { key: 'only', type: 'string', full: '', quick: '', help: 'figures to measure, e.g. scale,list (default all)' },
  {
    key: 'temporal',
    type: 'string',
    full: 'dev',
    quick: 'dev',
    help: 'dev: the Temporal dev server (SQLite), as npm start; cluster: Temporal Server on the PostgreSQL (as npm run cluster)',
  },
  {
    key: 'temporalArgs',
    type: 'string',
    full: '',
    quick: '',
    help: 'extra `temporal server start-dev` arguments, space-separated; pass as --temporal-args="..."',
  },
];

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (key: string) => `BENCH_${kebab(key).replace(/-/g, '_').toUpperCase()}`;

export function usage(): string {
  const lines = specs.map((s) => {
    const flag = s.type === 'boolean' ? `--${kebab(s.key)}` : `--${kebab(s.key)} <${s.type}>`;
    return `  ${flag.padEnd(38)} ${s.help} (default ${String(s.full)}, quick ${String(s.quick)}; env ${envName(s.key)})`;
  });
  return [
    'npm run bench -- [--quick] [options]',
    '',
    '  --quick'.padEnd(40) + ' small sizes, under a minute',
    ...lines,
  ].join('\n');
}

/** Flags win over BENCH_* environment variables, which win over the defaults of the mode. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(
        specs.map((s) => [kebab(s.key), { type: s.type === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
      ),
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(usage());
    process.exit(0);
  }
  const quick = values.quick === true || env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  const options: Record<string, unknown> = { quick };
  for (const s of specs) {
    const raw = (values as Record<string, string | boolean | undefined>)[kebab(s.key)] ?? env[envName(s.key)];
    const fallback = quick ? s.quick : s.full;
    if (raw === undefined) {
      options[s.key] = fallback;
    } else if (s.type === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0)
        throw new Error(`--${kebab(s.key)} must be a non-negative number, not ${String(raw)}`);
      options[s.key] = n;
    } else if (s.type === 'boolean') {
      options[s.key] = raw === true || raw === 'true' || raw === '1';
    } else {
      options[s.key] = String(raw);
    }
  }
  if (options.intakeWait !== 'accepted' && options.intakeWait !== 'received') {
    throw new Error(`--intake-wait must be accepted or received, not ${String(options.intakeWait)}`);
  }
  if (options.temporal !== 'dev' && options.temporal !== 'cluster') {
    throw new Error(`--temporal must be dev or cluster, not ${String(options.temporal)}`);
  }
  const parsed = options as unknown as BenchOptions;
  for (const key of [
    'drivers',
    'leadsScale',
    'escalationLeads',
    'commands',
    'listRequests',
    'submitConcurrency',
  ] as const) {
    if (!Number.isInteger(parsed[key]) || parsed[key] < 1)
      throw new Error(`--${kebab(key)} must be a positive integer`);
  }
  return parsed;
}
