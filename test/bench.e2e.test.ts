import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
let dir: string | undefined;
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The figures `npm run bench` promises in bench/results/latest.json. */
const figures = [
  'throughput.leadline_per_s',
  'throughput.baseline_per_s',
  'throughput.ratio',
  'command_latency_ms.p50',
  'command_latency_ms.p99',
  'command_latency_under_load_ms.p50',
  'command_latency_under_load_ms.p99',
  'intake_latency_ms.p50',
  'intake_latency_ms.p99',
  'escalation_lag_ms.p50',
  'escalation_lag_ms.p99',
  'escalation_lag_ms.max',
  'scale.leads',
  'scale.worker_rss_mb',
  'scale.start_s',
  'scale.lost',
  'list_latency_ms.p50',
  'list_latency_ms.p99',
];

describe('npm run bench -- --quick', () => {
  it('produces every figure as a finite number', { timeout: 150_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'leadline-bench-test-'));
    const out = join(dir, 'bench.json');
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out],
        { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 140_000 },
        (error, stdout, stderr) => resolve({ code: error ? (child.exitCode ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
    });
    expect(code, output).toBe(0);
    const results = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
    for (const path of figures) {
      const value = path
        .split('.')
        .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], results);
      expect(typeof value === 'number' && Number.isFinite(value), `${path} = ${String(value)}\n${output}`).toBe(true);
    }
    expect(output).toContain('| figure | value | target | met? |');
  });
});

describe('npm run bench:replay', () => {
  it('replays the newest recordings and gives their CPU a lead', { timeout: 170_000 }, async () => {
    dir ??= await mkdtemp(join(tmpdir(), 'leadline-bench-test-'));
    const out = join(dir, 'replay.json');
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'bench/replay.ts', '--copies', '2', '--rounds', '2', '--out', out],
        { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 160_000 },
        (error, stdout, stderr) => resolve({ code: error ? (child.exitCode ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
    });
    expect(code, output).toBe(0);
    const results = JSON.parse(await readFile(out, 'utf8')) as {
      histories: { file: string; events: number; tasks: number }[];
      cpu_ms_per_lead: number;
    };
    expect(results.histories.length, output).toBeGreaterThanOrEqual(3);
    // The ordinary leads of the newest release, not the long one (a worst case, kept apart).
    expect(results.histories.map((h) => h.file)).not.toContain('long-lead-first-run.json');
    for (const h of results.histories) expect(h.tasks).toBeGreaterThan(1);
    expect(results.cpu_ms_per_lead, output).toBeGreaterThan(0);
    expect(output).toMatch(/replay: [\d.]+ ms CPU a lead/);
  });
});
